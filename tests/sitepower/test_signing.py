"""Signed site messages: what a signature covers, and what breaks it (RFC 8032 Ed25519 via cryptography)."""

from __future__ import annotations

import base64
import json
import stat
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pecc_plugins.site import signing

KEY = signing.new_key()
TOPIC = "pecc/depot/cabinets/north/share"
SHARE = {"epoch": "e1", "seq": 7, "power_w": 42_000.0, "ttl_s": 5.0, "issued_at": 1.7e9, "expires_at": 1.7e9 + 5}

values = st.one_of(st.integers(), st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=8),
                   st.booleans(), st.none())


def test_a_signed_message_verifies_for_its_topic_only() -> None:
    signed = signing.sign(KEY, TOPIC, SHARE)
    assert signing.verified(KEY.public_key(), TOPIC, signed)
    assert signing.verified(KEY.public_key(), TOPIC, json.loads(json.dumps(signed)))  # as it crosses the broker
    assert not signing.verified(KEY.public_key(), "pecc/depot/cabinets/south/share", signed)
    assert not signing.verified(signing.new_key().public_key(), TOPIC, signed)


@pytest.mark.parametrize("payload", [None, {}, dict(SHARE), {**SHARE, "sig": 5}, {**SHARE, "sig": "not base64!"},
                                     {**SHARE, "sig": base64.b64encode(bytes(64)).decode()}])
def test_no_or_a_broken_signature_does_not_verify(payload: dict[str, Any] | None) -> None:
    assert not signing.verified(KEY.public_key(), TOPIC, payload)


@given(field=st.sampled_from(sorted(SHARE)), value=values)
def test_any_changed_field_breaks_the_signature(field: str, value: Any) -> None:
    signed = signing.sign(KEY, TOPIC, SHARE)
    changed = {**signed, field: value}
    same = json.dumps(changed, sort_keys=True) == json.dumps(signed, sort_keys=True)  # 7.0 is not 7 on the wire
    assert signing.verified(KEY.public_key(), TOPIC, changed) == same


@given(name=st.text(min_size=1, max_size=8).filter(lambda n: n not in SHARE and n != "sig"), value=values)
def test_an_added_field_breaks_the_signature(name: str, value: Any) -> None:
    assert not signing.verified(KEY.public_key(), TOPIC, {**signing.sign(KEY, TOPIC, SHARE), name: value})


def test_keys_are_written_for_their_owner_only_and_read_back(tmp_path: Path) -> None:
    signing.write_private(KEY, tmp_path / "site.key")
    signing.write_public(KEY, tmp_path / "site.pub")
    assert stat.S_IMODE((tmp_path / "site.key").stat().st_mode) == 0o600
    private = signing.load_private(tmp_path / "site.key", "keys.site")
    public = signing.load_public(tmp_path / "site.pub", "site_key")
    assert signing.verified(public, TOPIC, signing.sign(private, TOPIC, SHARE))


def test_a_wrong_key_file_is_a_clear_error(tmp_path: Path) -> None:
    signing.write_public(KEY, tmp_path / "site.pub")
    with pytest.raises(signing.SiteKeyError, match=r"keys.site: .*site.pub: not a PEM key"):
        signing.load_private(tmp_path / "site.pub", "keys.site")
    with pytest.raises(signing.SiteKeyError, match=r"site_key: .*missing.pub: No such file"):
        signing.load_public(tmp_path / "missing.pub", "site_key")


def test_the_signed_bytes_are_those_docs_site_md_describes() -> None:
    """Built here from the document (not from signing.canonical): another coordinator can interoperate."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    own = Ed25519PrivateKey.generate()
    body = {"seq": 3, "epoch": "e1", "power_w": 42000.5, "ttl_s": 5, "expires_at": 1e9}
    document_bytes = json.dumps([TOPIC, body], sort_keys=True, separators=(",", ":"), allow_nan=False).encode()
    theirs = {**body, "sig": base64.b64encode(own.sign(document_bytes)).decode()}
    assert signing.verified(own.public_key(), TOPIC, theirs)  # signed elsewhere, taken here
    ours = signing.sign(own, TOPIC, body)
    own.public_key().verify(base64.b64decode(ours["sig"]), document_bytes)  # signed here, checks elsewhere
