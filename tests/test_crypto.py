"""Encryption at rest: AES-GCM key ring with rotation, column binding, keyed hashes."""

from __future__ import annotations

import base64
import os

import pytest
from cryptography.exceptions import InvalidTag

from switchboard.store.crypto import Cipher, KeyedHasher, KeyRingError

pytestmark = pytest.mark.fast


def key() -> str:
    return base64.b64encode(os.urandom(32)).decode()


def test_round_trip_and_fresh_nonces() -> None:
    cipher = Cipher.from_setting(f"k1:{key()}")
    first, second = cipher.encrypt("hello", "message.body"), cipher.encrypt("hello", "message.body")
    assert first != second and "hello" not in first
    assert cipher.decrypt(first, "message.body") == "hello"


def test_rotation_keeps_old_values_readable() -> None:
    old_key, new_key = key(), key()
    before = Cipher.from_setting(f"k1:{old_key}")
    sealed = before.encrypt("kept", "message.body")
    after = Cipher.from_setting(f"k1:{old_key},k2:{new_key}")
    assert after.current_key_id == "k2"
    assert after.encrypt("new", "message.body").startswith("k2$")
    assert after.decrypt(sealed, "message.body") == "kept"
    with pytest.raises(KeyRingError, match="unknown key 'k1'"):
        Cipher.from_setting(f"k2:{new_key}").decrypt(sealed, "message.body")


def test_a_value_is_bound_to_its_column_and_tamper_evident() -> None:
    cipher = Cipher.from_setting(f"k1:{key()}")
    sealed = cipher.encrypt("secret", "message.body")
    with pytest.raises(InvalidTag):
        cipher.decrypt(sealed, "message.author")
    tampered = sealed[:-4] + ("AAAA" if not sealed.endswith("AAAA") else "BBBB")
    with pytest.raises(InvalidTag):
        cipher.decrypt(tampered, "message.body")


@pytest.mark.parametrize(
    ("setting", "problem"),
    [
        ("", "no encryption keys"),
        ("k1", "not 'id:base64'"),
        ("k1:abc", "base64"),
        ("k1:" + base64.b64encode(b"short").decode(), "16, 24 or 32"),
    ],
)
def test_bad_key_settings_say_what_is_wrong(setting: str, problem: str) -> None:
    with pytest.raises(KeyRingError, match=problem):
        Cipher.from_setting(setting)


def test_keyed_hash_is_stable_and_keyed() -> None:
    one, other = KeyedHasher.from_setting(key()), KeyedHasher.from_setting(key())
    assert one.digest("address", "+15551234567") == one.digest("address", "+15551234567")
    assert one.digest("address", "+15551234567") != other.digest("address", "+15551234567")
    assert "15551234567" not in one.digest("address", "+15551234567")
