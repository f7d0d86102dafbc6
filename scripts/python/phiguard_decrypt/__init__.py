"""Decrypt phiguard field tokens: hpke-p256 and hpke-xwing (token versions 1 and 2) and
rsa-oaep-sha256, as docs/ENCRYPTION.md specifies them. One dependency: cryptography.

    from phiguard_decrypt import Keyring
    ring = Keyring.from_paths("keys/")
    ring.decrypt(token)          # the value as Python (str, int, float, bool, dict, list)
    ring.decrypt_text(token)     # a string's text or another value's JSON text (SQL UDFs)
    ring.decrypt_json(token)     # the exact JSON text
    ring.decrypt_event(event)    # an event dict with its manifest's encrypt paths decrypted
"""

from ._keyring import Keyring, decrypt_rows, split_path
from ._tokens import (
    HPKE_P256,
    HPKE_XWING,
    RSA_OAEP_SHA256,
    AuthenticationFailed,
    DecryptError,
    MalformedToken,
    TokenInfo,
    UnknownKey,
    Value,
    XWingUnavailable,
    inspect,
    is_token,
)


def xwing_available() -> bool:
    """Whether the installed cryptography has the ML-KEM that hpke-xwing needs."""
    try:
        from cryptography.hazmat.primitives.asymmetric import mlkem  # noqa: F401
    except ImportError:
        return False
    return True


__all__ = [
    "Keyring", "Value", "TokenInfo", "inspect", "is_token", "decrypt_rows", "split_path", "xwing_available",
    "DecryptError", "MalformedToken", "UnknownKey", "AuthenticationFailed", "XWingUnavailable",
    "HPKE_P256", "HPKE_XWING", "RSA_OAEP_SHA256",
]
__version__ = "2.0.0"
