"""Secrets at rest, all derived from PAYNODE_ENCRYPTION_KEY.

- Wallet mnemonics: AES-256-GCM under a key derived with scrypt from the encryption key and a
  random per-record salt; the record's identity is bound in as associated data, so a ciphertext
  copied onto another row does not decrypt.
- API keys: HMAC-SHA256 under a key derived with HKDF. A key has >= 128 bits of entropy, so a slow
  hash buys nothing, and every request checks one.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from functools import lru_cache

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

FORMAT_VERSION = 1
SALT_BYTES = 16
NONCE_BYTES = 12
SCRYPT_N = 2**15
SCRYPT_R = 8
SCRYPT_P = 1


class DecryptionError(Exception):
    """Wrong encryption key, or a ciphertext that was altered or moved."""


@lru_cache(maxsize=256)
def _scrypt_key(encryption_key: str, salt: bytes) -> bytes:
    kdf = Scrypt(salt=salt, length=32, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P)
    return kdf.derive(encryption_key.encode())


class SecretBox:
    """Encrypts and authenticates with keys derived from one operator secret."""

    def __init__(self, encryption_key: str) -> None:
        self._encryption_key = encryption_key
        self._hmac_key = HKDF(
            algorithm=hashes.SHA256(), length=32, salt=None, info=b"paynode api-key hmac v1"
        ).derive(encryption_key.encode())

    def encrypt(self, plaintext: bytes, associated_data: bytes) -> bytes:
        salt = os.urandom(SALT_BYTES)
        nonce = os.urandom(NONCE_BYTES)
        key = _scrypt_key(self._encryption_key, salt)
        sealed = AESGCM(key).encrypt(nonce, plaintext, associated_data)
        return bytes([FORMAT_VERSION]) + salt + nonce + sealed

    def decrypt(self, blob: bytes, associated_data: bytes) -> bytes:
        if len(blob) < 1 + SALT_BYTES + NONCE_BYTES + 16 or blob[0] != FORMAT_VERSION:
            raise DecryptionError("not a paynode ciphertext")
        salt = blob[1 : 1 + SALT_BYTES]
        nonce = blob[1 + SALT_BYTES : 1 + SALT_BYTES + NONCE_BYTES]
        key = _scrypt_key(self._encryption_key, salt)
        try:
            return AESGCM(key).decrypt(nonce, blob[1 + SALT_BYTES + NONCE_BYTES :], associated_data)
        except InvalidTag as error:
            raise DecryptionError("wrong encryption key or altered ciphertext") from error

    def token_hash(self, token: str) -> str:
        return hmac.new(self._hmac_key, token.encode(), hashlib.sha256).hexdigest()
