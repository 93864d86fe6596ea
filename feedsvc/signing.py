"""Standard Webhooks v1 signatures: ``webhook-signature: v1,<base64 HMAC-SHA256>``.

The signed content is ``f"{msg_id}.{timestamp}."`` followed by the raw body; the key is the
base64-decoded part of the ``whsec_`` secret (https://www.standardwebhooks.com, "Signature scheme").
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 24  # the spec asks for 24 to 64 random bytes


class SecretError(ValueError):
    """A secret that is not ``whsec_`` followed by base64 of at least one byte."""


def generate_secret() -> str:
    """A fresh ``whsec_`` secret of 24 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode("ascii")


def secret_key(secret: str) -> bytes:
    """The HMAC key a secret stands for; :raises SecretError: when it is not valid base64."""
    encoded = secret.removeprefix(SECRET_PREFIX)
    try:
        key = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise SecretError(
            f"signing: not a Standard Webhooks secret ({SECRET_PREFIX} + base64): {exc}"
        ) from exc
    if not key:
        raise SecretError("signing: the secret is empty")
    return key


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` header value for one attempt of one message."""
    signed = f"{msg_id}.{int(timestamp)}.".encode() + body
    digest = hmac.new(secret_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")
