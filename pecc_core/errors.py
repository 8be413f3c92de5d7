"""Why a gun refuses a request.

The state machine raises these; a transport maps each class to its own
error vocabulary (PEP-WS: ``value``, ``inoperative``, ``internal``), so the
core stays free of protocol details. Anything else raised while handling a
request is an unexpected failure and is reported as ``internal`` too.
"""


class Refused(Exception):
    """The request was understood and deliberately not carried out."""


class ValueRefused(Refused):
    """A requested value cannot be supplied (e.g. voltage above a limit)."""


class InoperativeRefused(Refused):
    """The gun cannot act in its present state (fault, transition to standby)."""


class InternalRefused(Refused):
    """An internal condition prevents it, e.g. CP/PP supervision forbids closing."""


class SeccTimeout(Exception):
    """A PECC -> SECC request got no reply within the request timeout."""


class SeccError(Exception):
    """The SECC answered a PECC -> SECC request with an error."""

    def __init__(self, category: str, details: str) -> None:
        self.category = category
        self.details = details
        super().__init__(f"{category}: {details}" if details else category)


class SeccNotConnected(Exception):
    """No SECC is connected to the gun."""


class ConfigError(Exception):
    """A plugin found its part of the profile unusable when it was built.

    For checks a params schema cannot make alone (e.g. a gun id that is not
    in the profile). Reported like a profile error: message, exit code 2.
    """
