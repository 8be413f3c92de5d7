"""``pecc replay``: an incident's recorded SECC side played again against a station, and compared.

A regression test for a field bug: the incident archive (docs/incidents.md)
holds what each SECC sent and what PECC answered; playing the SECCs'
frames, in their order and at their times, against today's code on the
``sim`` station (its module simulator re-raising the incident's module
fault) shows where PECC now behaves otherwise.

- ``archive``: the archive read back (:class:`~.archive.ArchiveError` if it cannot be);
- ``engine``: the station, one WebSocket client per gun, the re-injected causes;
- ``compare``: recorded against replayed behaviour per gun (what is compared, what ignored);
- ``report``: the verdict (:func:`~.report.check`, what the command and the tests call);
- ``command``: ``pecc replay ARCHIVE [--profile sim] [--json]``.
"""
