"""Encryption at rest (AES-GCM with a key ring) and keyed hashing of addresses.

A stored value is ``<key_id>$<base64(nonce | ciphertext | tag)>``; the key id travels with the
value so older keys keep decrypting after a new key becomes current. Each value is bound to the
column it lives in (associated data), so a ciphertext copied into another column fails to decrypt.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from dataclasses import dataclass

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

NONCE_BYTES = 12


class KeyRingError(ValueError):
    pass


def _decode_key(text: str, what: str) -> bytes:
    try:
        key = base64.b64decode(text, validate=True)
    except ValueError as exc:
        raise KeyRingError(f"{what} is not valid base64") from exc
    if len(key) not in (16, 24, 32):
        raise KeyRingError(f"{what} must decode to 16, 24 or 32 bytes, not {len(key)}")
    return key


@dataclass(frozen=True)
class Cipher:
    keys: dict[str, AESGCM]
    current_key_id: str

    @classmethod
    def from_setting(cls, encryption_keys: str, current_key_id: str = "") -> Cipher:
        """Parse ``id:base64[,id:base64...]``; the current key is ``current_key_id`` or the last."""
        keys: dict[str, AESGCM] = {}
        for item in filter(None, (part.strip() for part in encryption_keys.split(","))):
            key_id, sep, material = item.partition(":")
            if not sep or not key_id or "$" in key_id:
                raise KeyRingError(f"encryption key entry {key_id or item[:8]!r} is not 'id:base64'")
            keys[key_id] = AESGCM(_decode_key(material, f"encryption key {key_id!r}"))
        if not keys:
            raise KeyRingError("no encryption keys configured")
        current = current_key_id or list(keys)[-1]
        if current not in keys:
            raise KeyRingError(f"current encryption key {current!r} is not in the key ring")
        return cls(keys, current)

    def encrypt(self, plaintext: str, column: str) -> str:
        nonce = os.urandom(NONCE_BYTES)
        sealed = self.keys[self.current_key_id].encrypt(nonce, plaintext.encode(), column.encode())
        return f"{self.current_key_id}${base64.b64encode(nonce + sealed).decode()}"

    def decrypt(self, stored: str, column: str) -> str:
        key_id, sep, payload = stored.partition("$")
        if not sep or key_id not in self.keys:
            raise KeyRingError(f"value in {column} was sealed with unknown key {key_id!r}")
        raw = base64.b64decode(payload)
        return self.keys[key_id].decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], column.encode()).decode()

    def seal(self, plaintext: bytes, context: bytes) -> tuple[str, bytes]:
        """Binary form for other stores (Temporal payloads): the current key's id, and
        ``nonce | ciphertext | tag`` bound to ``context``."""
        nonce = os.urandom(NONCE_BYTES)
        return self.current_key_id, nonce + self.keys[self.current_key_id].encrypt(nonce, plaintext, context)

    def unseal(self, key_id: str, sealed: bytes, context: bytes) -> bytes:
        if key_id not in self.keys:
            raise KeyRingError(f"data sealed with unknown key {key_id!r}")
        return self.keys[key_id].decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], context)

    def encrypt_optional(self, plaintext: str | None, column: str) -> str | None:
        return None if plaintext is None else self.encrypt(plaintext, column)

    def decrypt_optional(self, stored: str | None, column: str) -> str | None:
        return None if stored is None else self.decrypt(stored, column)


@dataclass(frozen=True)
class KeyedHasher:
    """HMAC-SHA256 under a secret key: equal inputs give equal digests, and nobody without the key
    can test a guessed phone number against the database."""

    key: bytes

    @classmethod
    def from_setting(cls, hash_key: str) -> KeyedHasher:
        return cls(_decode_key(hash_key, "hash key"))

    def digest(self, *parts: str) -> str:
        return hmac.new(self.key, "\x1f".join(parts).encode(), hashlib.sha256).hexdigest()
