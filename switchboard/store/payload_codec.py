"""Encryption of what Switchboard hands Temporal: workflow and activity inputs and results,
signals, updates, queries and failure messages (AES-GCM under the codec key ring).

An encoded payload is ``encoding: binary/encrypted`` with the key id in ``encryption-key-id``
and the whole original payload (metadata and data) sealed as its data. Every key of the ring
decrypts, so a new current key leaves running channels readable. Payloads without that encoding
(histories written before encryption was enabled, the recorded test histories) pass through
decoding unchanged.

Search attributes and workflow ids are not payloads Temporal lets a codec touch: they carry SIDs
and channel types only, never names or addresses.
"""

from __future__ import annotations

from collections.abc import Sequence

from cryptography.exceptions import InvalidTag
from temporalio.api.common.v1 import Payload
from temporalio.converter import DataConverter, DefaultFailureConverterWithEncodedAttributes, PayloadCodec

from switchboard.settings import Settings
from switchboard.store.crypto import Cipher, KeyRingError

# Where the API serves the codec the Temporal UI decrypts payloads through (its ``codecEndpoint``).
CODEC_PATH = "/codec"

ENCODING = b"binary/encrypted"
KEY_ID = "encryption-key-id"
# Associated data: a payload sealed here cannot pass for a column value of the store.
CONTEXT = b"temporal-payload"


class PayloadDecryptionError(ValueError):
    pass


class EncryptionCodec(PayloadCodec):
    def __init__(self, cipher: Cipher) -> None:
        self.cipher = cipher

    @classmethod
    def from_settings(cls, settings: Settings) -> EncryptionCodec:
        return cls(Cipher.from_setting(settings.codec_keys, settings.codec_key_id))

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.encode_one(payload) for payload in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.decode_one(payload) for payload in payloads]

    def encode_one(self, payload: Payload) -> Payload:
        key_id, sealed = self.cipher.seal(payload.SerializeToString(), CONTEXT)
        return Payload(metadata={"encoding": ENCODING, KEY_ID: key_id.encode()}, data=sealed)

    def decode_one(self, payload: Payload) -> Payload:
        if payload.metadata.get("encoding") != ENCODING:
            return payload
        key_id = payload.metadata.get(KEY_ID, b"").decode()
        try:
            return Payload.FromString(self.cipher.unseal(key_id, payload.data, CONTEXT))
        except (KeyRingError, InvalidTag) as exc:
            raise PayloadDecryptionError(f"payload sealed with key {key_id!r} cannot be decrypted") from exc


def data_converter(settings: Settings) -> DataConverter:
    """The data converter of every Temporal client, worker and replayer of this deployment."""
    return DataConverter(
        payload_codec=EncryptionCodec.from_settings(settings),
        # Failure messages and stack traces go into an encoded payload too.
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )
