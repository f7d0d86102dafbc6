"""Token parsing and decryption, following docs/ENCRYPTION.md sections 3 and 4 exactly.

Nothing here logs, and no exception message contains a token, a value or key material.
"""

import base64
import hashlib
import json
import struct
from dataclasses import dataclass
from typing import Optional

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, hmac, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand

HPKE_P256 = "hpke-p256"
HPKE_XWING = "hpke-xwing"
RSA_OAEP_SHA256 = "rsa-oaep-sha256"

# algorithm id -> (algorithm, KEM id, N = enc length)
_ALGS = {0x01: (HPKE_P256, b"\x00\x10", 65), 0x02: (HPKE_XWING, b"\x64\x7a", 1120)}
_PREFIXES = {"hpke1.": 1, "hpke2.": 2}
_TYPES = {0x73: "string", 0x6E: "number", 0x62: "boolean", 0x6F: "object", 0x61: "array"}
_FIRST = {"number": b"-0123456789", "boolean": b"tf", "object": b"{", "array": b"["}
_RSA_TOKEN_LENGTHS = {344: 256, 512: 384, 684: 512}  # base64 characters -> ciphertext bytes
_MAX_VALUE = 65536
_INFO_LABEL = b"phiguard/fieldcrypt/v1"
_EXPORT_CONTEXT = b"phiguard/fieldcrypt/v1 field key"
_XWING_PKCS8_PREFIX = bytes.fromhex("3034020100300d060b2b0601040183e62d81c87a0420")
_XWING_SPKI_PREFIX = bytes.fromhex("308204d4300d060b2b0601040183e62d81c87a038204c100")


def _fingerprint(spki: bytes) -> str:
    return "SHA256:" + base64.b64encode(hashlib.sha256(spki).digest()).decode().rstrip("=")


class DecryptError(Exception):
    """A token could not be decrypted. Subclasses say why; the message never holds secrets."""


class MalformedToken(DecryptError):
    """The text is not a well-formed token of any version this package knows."""


class UnknownKey(DecryptError):
    """No private key of the token's algorithm and key id (or RSA size) is held."""


class AuthenticationFailed(DecryptError):
    """A candidate key was found, but the token does not authenticate: altered, or another key's."""


class XWingUnavailable(DecryptError):
    """The installed cryptography has no ML-KEM, so hpke-xwing tokens cannot be decrypted here."""


@dataclass(frozen=True)
class Value:
    """A decrypted value: its JSON type (None for tokens that do not record it: hpke1. and RSA)
    and its bytes (a string's UTF-8 content, or the JSON text of any other type)."""

    type: Optional[str]
    data: bytes

    def json(self) -> str:
        """The exact JSON text of the value (an untyped value as a JSON string)."""
        if self.type in (None, "string"):
            return json.dumps(self.data.decode("utf-8", "replace"), ensure_ascii=False)
        return self.data.decode("utf-8")

    def text(self) -> str:
        """A string's text, or the JSON text of any other value: what a SQL UDF returns."""
        return self.data.decode("utf-8", "replace")

    def python(self, exact_numbers: bool = False):
        """The value as Python: str, int or float (decimal.Decimal with exact_numbers), bool, dict
        or list. An untyped value is a str."""
        if self.type in (None, "string"):
            return self.data.decode("utf-8", "replace")
        if exact_numbers:
            from decimal import Decimal

            return json.loads(self.data, parse_float=Decimal)
        return json.loads(self.data)


@dataclass(frozen=True)
class TokenInfo:
    """What a token is, without any key."""

    algorithm: str
    version: int  # 1 or 2 for HPKE, 0 for RSA
    key_id: Optional[str]  # None for RSA tokens
    token_length: int
    rsa_bits: int = 0


@dataclass(frozen=True)
class _HPKEToken:
    version: int
    algorithm: str
    kem_id: bytes
    key_id: str
    enc: bytes
    nonce: bytes
    ct: bytes
    aad: bytes
    info: bytes


def _parse_hpke(token: str) -> _HPKEToken:
    version = _PREFIXES.get(token[:6])
    if version is None:
        raise MalformedToken("unsupported HPKE token version (want the prefix hpke2. or hpke1.)")
    body = token[6:]
    if len(body) > 4 * (3 + 255 + 2 + 1120 + 12 + _MAX_VALUE + 1 + 16) // 3 + 4:
        raise MalformedToken("HPKE token is too long")
    try:
        raw = body.encode("ascii")
        b = base64.urlsafe_b64decode(raw + b"=" * (-len(raw) % 4))
    except (ValueError, UnicodeError):
        raise MalformedToken("HPKE token is not base64url") from None
    if base64.urlsafe_b64encode(b).rstrip(b"=") != raw:
        raise MalformedToken("HPKE token is not canonical unpadded base64url")
    if len(b) < 3 or b[0] != version:
        raise MalformedToken("HPKE token version byte does not match its prefix")
    if b[1] not in _ALGS:
        raise MalformedToken("unknown HPKE token algorithm id")
    algorithm, kem_id, n_enc = _ALGS[b[1]]
    l = b[2]
    if l == 0 or len(b) < 5 + l:
        raise MalformedToken("HPKE token has an empty or truncated key id")
    if not all(0x21 <= c <= 0x7E for c in b[3 : 3 + l]):
        raise MalformedToken("HPKE token key id is not printable ASCII")
    (n,) = struct.unpack(">H", b[3 + l : 5 + l])
    if n != n_enc:
        raise MalformedToken("HPKE token encapsulated key has the wrong length for its algorithm")
    h = 5 + l + n
    extra = 1 if version == 2 else 0
    if not 28 + extra <= len(b) - h <= _MAX_VALUE + 28 + extra:
        raise MalformedToken("HPKE token ciphertext is too short or too long")
    return _HPKEToken(version, algorithm, kem_id, b[3 : 3 + l].decode("ascii"), b[5 + l : h],
                      b[h : h + 12], b[h + 12 :], b[:h], _INFO_LABEL + b[: 3 + l])


def _parse_rsa(token: str) -> bytes:
    size = _RSA_TOKEN_LENGTHS.get(len(token))
    if size is None:
        raise MalformedToken("not an HPKE token (no hpke2. or hpke1. prefix) and not the base64 of a 2048-, 3072- or 4096-bit RSA ciphertext")
    try:
        ct = base64.b64decode(token, validate=True)
    except ValueError:
        raise MalformedToken("RSA token is not padded standard base64") from None
    if len(ct) != size or base64.b64encode(ct).decode("ascii") != token:
        raise MalformedToken("RSA token is not canonical padded standard base64")
    return ct


def inspect(token: str) -> TokenInfo:
    """Return what token is (algorithm, version, key id) without a key; raise MalformedToken."""
    if token.startswith("hpke"):
        t = _parse_hpke(token)
        return TokenInfo(t.algorithm, t.version, t.key_id, len(token))
    ct = _parse_rsa(token)
    return TokenInfo(RSA_OAEP_SHA256, 0, None, len(token), 8 * len(ct))


def is_token(text) -> bool:
    """Whether text is a well-formed token (it need not decrypt)."""
    if not isinstance(text, str):
        return False
    try:
        inspect(text)
        return True
    except MalformedToken:
        return False


# ---- HPKE, from the primitives (RFC 9180 sections 4, 5.1 and 5.3) ----

def _extract(salt: bytes, ikm: bytes) -> bytes:
    h = hmac.HMAC(salt or b"\0" * 32, hashes.SHA256())
    h.update(ikm)
    return h.finalize()


def _labeled_extract(suite: bytes, salt: bytes, label: bytes, ikm: bytes) -> bytes:
    return _extract(salt, b"HPKE-v1" + suite + label + ikm)


def _labeled_expand(suite: bytes, prk: bytes, label: bytes, info: bytes, n: int) -> bytes:
    return HKDFExpand(hashes.SHA256(), n, struct.pack(">H", n) + b"HPKE-v1" + suite + label + info).derive(prk)


def _batch_key(kem_id: bytes, shared_secret: bytes, info: bytes) -> bytes:
    suite = b"HPKE" + kem_id + b"\x00\x01\x00\x02"
    ks_context = (b"\x00" + _labeled_extract(suite, b"", b"psk_id_hash", b"")
                  + _labeled_extract(suite, b"", b"info_hash", info))
    secret = _labeled_extract(suite, shared_secret, b"secret", b"")
    exporter_secret = _labeled_expand(suite, secret, b"exp", ks_context, 32)
    return _labeled_expand(suite, exporter_secret, b"sec", _EXPORT_CONTEXT, 32)


def _decode_payload(p: bytes) -> Value:
    p = p.rstrip(b"\x00")
    if not p or p[-1] not in _TYPES:
        raise MalformedToken("the decrypted payload has no or an unknown type byte")
    kind, value = _TYPES[p[-1]], p[:-1]
    if kind != "string":
        ok = value[:1] != b"" and value[:1] in _FIRST[kind]
        if ok and kind == "boolean":
            ok = value in (b"true", b"false")
        if ok:
            try:
                json.loads(value)
            except ValueError:
                ok = False
        if not ok:
            raise MalformedToken("the decrypted value is not JSON text of its type")
    return Value(kind, value)


class _P256Key:
    algorithm = HPKE_P256

    def __init__(self, key: ec.EllipticCurvePrivateKey):
        self._key = key
        self._pk_rm = key.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)

    def fingerprint(self) -> str:
        return _fingerprint(self._key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo))

    def shared_secret(self, enc: bytes) -> bytes:
        dh = self._key.exchange(ec.ECDH(), ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), enc))
        kem = b"KEM\x00\x10"
        eae_prk = _labeled_extract(kem, b"", b"eae_prk", dh)
        return _labeled_expand(kem, eae_prk, b"shared_secret", enc + self._pk_rm, 32)


class _XWingKey:
    """X-Wing as in draft-connolly-cfrg-xwing-kem-06: the private key is a 32-byte seed."""

    algorithm = HPKE_XWING

    def __init__(self, seed: bytes):
        try:
            from cryptography.hazmat.primitives.asymmetric import mlkem, x25519
        except ImportError:
            raise XWingUnavailable(
                "this cryptography build has no ML-KEM (cryptography.hazmat.primitives.asymmetric.mlkem), "
                "so hpke-xwing keys cannot be used; install a cryptography release with ML-KEM (50.0.2 has it)"
            ) from None
        expanded = hashlib.shake_256(seed).digest(96)
        self._x25519 = x25519
        self._sk_m = mlkem.MLKEM768PrivateKey.from_seed_bytes(expanded[:64])
        self._sk_x = x25519.X25519PrivateKey.from_private_bytes(expanded[64:96])
        self._pk_x = self._sk_x.public_key().public_bytes_raw()

    def fingerprint(self) -> str:
        # SPKI of id-XWing: a fixed prefix, then pk_M (the ML-KEM-768 encapsulation key) || pk_X.
        return _fingerprint(_XWING_SPKI_PREFIX + self._sk_m.public_key().public_bytes_raw() + self._pk_x)

    def shared_secret(self, enc: bytes) -> bytes:
        ct_m, ct_x = enc[:1088], enc[1088:]
        ss_m = self._sk_m.decapsulate(ct_m)
        ss_x = self._sk_x.exchange(self._x25519.X25519PublicKey.from_public_bytes(ct_x))
        return hashlib.sha3_256(ss_m + ss_x + ct_x + self._pk_x + b"\\.//^\\").digest()


class _RSAKey:
    algorithm = RSA_OAEP_SHA256

    def __init__(self, key: rsa.RSAPrivateKey):
        self._key = key
        self.size = key.key_size // 8

    def fingerprint(self) -> str:
        return _fingerprint(self._key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo))

    def decrypt(self, ct: bytes) -> bytes:
        return self._key.decrypt(ct, padding.OAEP(mgf=padding.MGF1(algorithm=hashes.SHA256()), algorithm=hashes.SHA256(), label=None))


def _pem_der(pem: bytes, label: bytes) -> Optional[bytes]:
    lines = pem.splitlines()
    begin, end = b"-----BEGIN " + label + b"-----", b"-----END " + label + b"-----"
    try:
        i = [l.strip() for l in lines].index(begin)
        j = [l.strip() for l in lines].index(end, i)
    except ValueError:
        return None
    return base64.b64decode(b"".join(l.strip() for l in lines[i + 1 : j]))


def load_private_key(pem: bytes):
    """Parse a private key PEM (PKCS#8, or PKCS#1 / SEC 1) of any of the three algorithms, with or
    without the Key-ID lines of a key file. Raises ValueError for anything else."""
    der = _pem_der(pem, b"PRIVATE KEY")
    if der is not None and der.startswith(_XWING_PKCS8_PREFIX) and len(der) == len(_XWING_PKCS8_PREFIX) + 32:
        return _XWingKey(der[len(_XWING_PKCS8_PREFIX) :])
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as e:
        raise ValueError("not an unencrypted private key PEM of hpke-p256, hpke-xwing or rsa-oaep-sha256") from e
    if isinstance(key, ec.EllipticCurvePrivateKey) and isinstance(key.curve, ec.SECP256R1):
        return _P256Key(key)
    if isinstance(key, rsa.RSAPrivateKey) and key.key_size in (2048, 3072, 4096):
        return _RSAKey(key)
    raise ValueError("the private key is not a P-256, X-Wing or RSA 2048/3072/4096 key")


def _open_hpke(key, t: _HPKEToken, cache: dict) -> Optional[bytes]:
    """The payload of t under key, or None when it does not authenticate."""
    aead = cache.get((id(key), t.aad))
    if aead is None:
        try:
            aead = AESGCM(_batch_key(t.kem_id, key.shared_secret(t.enc), t.info))
        except (ValueError, TypeError):
            return None  # an invalid point or ciphertext for this key
    try:
        p = aead.decrypt(t.nonce, t.ct, t.aad)
    except InvalidTag:
        return None
    if len(cache) >= 1024:
        cache.clear()
    cache[(id(key), t.aad)] = aead
    return p
