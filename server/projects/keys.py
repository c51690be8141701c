"""API key generation and secret hashing.

Secrets are stored as scrypt hashes. scrypt is deliberately slow (tens of ms), far too slow
to run on every ingestion request, so a successful verification is remembered in memory by
(key id, SHA-256 of the secret); revocation is still checked on every request.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import uuid

_N, _R, _P = 2**14, 8, 1


def new_key_pair() -> tuple[str, str]:
    return f"pk-lf-{uuid.uuid4()}", f"sk-lf-{uuid.uuid4()}"


def hash_secret(secret: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(secret.encode(), salt=salt, n=_N, r=_R, p=_P)
    return f"scrypt${_N}${_R}${_P}${salt.hex()}${digest.hex()}"


def secret_hint(secret: str) -> str:
    return "…" + secret[-4:]


class SecretVerifier:
    def __init__(self, max_entries: int = 10_000) -> None:
        self._verified: set[tuple[str, bytes]] = set()
        self._max = max_entries
        self._lock = threading.Lock()

    def verify(self, key_id: str, stored: str, secret: str) -> bool:
        fingerprint = (key_id, hashlib.sha256(secret.encode()).digest())
        if fingerprint in self._verified:
            return True
        # One slow check at a time: when a burst of requests arrives with a new key, the first
        # verifies it and the rest find it remembered, instead of all running scrypt at once.
        with self._lock:
            if fingerprint in self._verified:
                return True
            if not check_secret(stored, secret):
                return False
            if len(self._verified) >= self._max:
                self._verified.clear()
            self._verified.add(fingerprint)
        return True


def check_secret(stored: str, secret: str) -> bool:
    """Whether `secret` matches a hash made by `hash_secret` (slow: scrypt)."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    candidate = hashlib.scrypt(
        secret.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p)
    )
    return hmac.compare_digest(candidate, bytes.fromhex(digest))
