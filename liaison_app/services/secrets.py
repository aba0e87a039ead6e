"""Small secrets kept at rest: a group robot's webhook address (it holds the robot's key) and
DingTalk's signing secret. A copy of the database, a backup or a support dump then shows
neither; the app reads them back with its key.

Fernet (AES-128-CBC with HMAC-SHA256, from the `cryptography` package). The key is the
setting SECRETS_KEY when set; else it is derived from SECRET_KEY with HKDF-SHA256, so an
install needs no new setting. Text stored under the derived key stays readable after
SECRETS_KEY is set. Changing SECRET_KEY without SECRETS_KEY makes the stored values
unreadable: `decrypt` then raises SecretUnreadable and the robots page asks for them again.
"""

import base64

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app

HKDF_INFO = b"liaison robots"


class SecretUnreadable(Exception):
    """The stored value was encrypted with another key (SECRET_KEY changed), or is damaged."""


def encrypt(text: str) -> str:
    """The text, encrypted with the current key, as ASCII for a Text column."""
    return _fernet().encrypt(text.encode("utf-8")).decode("ascii")


def decrypt(token: str) -> str:
    """The text `encrypt` was given; SecretUnreadable when no key of this install opens it."""
    try:
        return _fernet().decrypt(token.encode("ascii")).decode("utf-8")
    except (InvalidToken, UnicodeError, AttributeError):
        raise SecretUnreadable("the stored secret cannot be decrypted with this installation's key") from None


def is_readable(token: str | None) -> bool:
    if not token:
        return False
    try:
        decrypt(token)
    except SecretUnreadable:
        return False
    return True


def _fernet() -> MultiFernet:
    """SECRETS_KEY first (it encrypts), the SECRET_KEY-derived key after it (it still decrypts)."""
    config = current_app.config
    keys = [Fernet(config["SECRETS_KEY"])] if config.get("SECRETS_KEY") else []
    keys.append(Fernet(derived_key(config["SECRET_KEY"])))
    return MultiFernet(keys)


def derived_key(secret_key: str | bytes) -> bytes:
    """A Fernet key from SECRET_KEY: HKDF-SHA256, no salt (the key is already random), bound
    by its info to this one use, so it differs from every other use of SECRET_KEY."""
    material = secret_key.encode("utf-8") if isinstance(secret_key, str) else secret_key
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=HKDF_INFO).derive(material)
    return base64.urlsafe_b64encode(key)
