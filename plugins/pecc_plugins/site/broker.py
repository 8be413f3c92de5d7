"""The MQTT broker connection shared by the coordinator and the cabinets: params, client, payloads.

Both sides speak MQTT v5 through aiomqtt. A connection is described by the
same ``broker`` table in the site profile and in a cabinet's ``site``
service params (host, port, credentials, TLS); :func:`client` builds the
aiomqtt client from it. Payloads are JSON objects.
"""

from __future__ import annotations

import asyncio
import json
import math
import ssl
from collections.abc import Awaitable
from typing import Any, TypeVar

import aiomqtt
from marshmallow import ValidationError, validates_schema
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from pecc_core.profile.schema import Integer, Nested, StrictSchema, String, between

T = TypeVar("T")

#: After a lost connection, try again this often (s).
RECONNECT_S = 1.0


class TlsSchema(StrictSchema):
    """TLS to the broker: the CA that signed its certificate; a client certificate if it asks for one."""

    ca_file = String(required=True)
    cert_file = String(load_default=None)
    key_file = String(load_default=None)

    @validates_schema
    def _pair(self, data: dict[str, Any], **_: Any) -> None:
        if (data["cert_file"] is None) != (data["key_file"] is None):
            raise ValidationError("expected cert_file and key_file together", "cert_file")


class BrokerSchema(StrictSchema):
    """Where the broker is and how to log in: ``host``, ``port``, credentials, ``tls``."""

    host = String(load_default="127.0.0.1")
    port = Integer(load_default=1883, validate=between(1, 65535))
    username = String(load_default=None)
    password = String(load_default=None)
    tls = Nested(TlsSchema, load_default=None)
    #: Seconds between pings; the broker declares the client gone (its last
    #: will) after 1.5 times this without a word.
    keepalive_s = Integer(load_default=5, validate=between(1, 600))


def tls_context(tls: dict[str, Any]) -> ssl.SSLContext:
    """A client TLS context trusting ``ca_file``, with the client certificate if given."""
    context = ssl.create_default_context(cafile=tls["ca_file"])
    if tls["cert_file"] is not None:
        context.load_cert_chain(tls["cert_file"], tls["key_file"])
    return context


class Client(aiomqtt.Client):
    """aiomqtt's client, whose waits for the broker (an ack, the connection, its close) pass a cancellation on.

    aiomqtt bounds them with ``asyncio.wait_for``, which on Python 3.11 returns
    the result when what it waits for completes just as the waiting task is
    cancelled, and the cancellation is lost: a cabinet's (or the coordinator's)
    loop whose PUBACK came in as it was cancelled carried on publishing, and
    whoever stopped it waited forever. ``asyncio.timeout`` gives the same bound
    and keeps the cancellation (as ``wait_for`` itself does from Python 3.12).
    """

    async def _wait_for(self, fut: Awaitable[T], timeout: float | None) -> T:
        if timeout is None:
            timeout = self.timeout
        try:
            async with asyncio.timeout(None if timeout == math.inf else timeout):
                return await fut
        except TimeoutError:
            raise aiomqtt.MqttError("Operation timed out") from None


def client(broker: dict[str, Any], identifier: str, will: aiomqtt.Will | None = None) -> aiomqtt.Client:
    """An MQTT v5 client for ``broker`` (validated :class:`BrokerSchema` data); not connected yet."""
    return Client(
        broker["host"],
        broker["port"],
        username=broker["username"],
        password=broker["password"],
        identifier=identifier,
        protocol=aiomqtt.ProtocolVersion.V5,
        will=will,
        keepalive=broker["keepalive_s"],
        timeout=5.0,
        tls_context=None if broker["tls"] is None else tls_context(broker["tls"]),
    )


def encode(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, separators=(",", ":")).encode()


def decode(message: aiomqtt.Message) -> dict[str, Any] | None:
    """The JSON object of ``message``, or None for anything else (a cleared retained topic, junk)."""
    try:
        data = json.loads(message.payload) if isinstance(message.payload, (bytes, str)) else None
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def expiring(seconds: float) -> Properties:
    """PUBLISH properties: the broker drops the message once ``seconds`` passed undelivered."""
    properties = Properties(PacketTypes.PUBLISH)
    properties.MessageExpiryInterval = max(1, math.ceil(seconds))
    return properties


def remaining_expiry(message: aiomqtt.Message) -> float | None:
    """The message expiry interval left when the broker delivered ``message`` (s), if it had one."""
    properties = message.properties
    value = getattr(properties, "MessageExpiryInterval", None) if properties is not None else None
    return float(value) if value is not None else None
