"""The Keyring: private keys by key id, and decryption of tokens, events and CSV-like rows."""

import json
import os
import threading
from typing import Dict, Iterable, List, Optional, Tuple

from . import _tokens as tk
from ._tokens import AuthenticationFailed, DecryptError, MalformedToken, UnknownKey, Value

_HEADER_NAMES = ("Key-ID", "Algorithm", "Fingerprint")


def _key_file_header(pem: bytes) -> Dict[str, str]:
    """The Name: value lines before the PEM block of a key file (docs/ENCRYPTION.md section 2)."""
    head = pem.split(b"-----BEGIN", 1)[0].decode("utf-8", "replace")
    out = {}
    for line in head.splitlines():
        name, sep, value = line.partition(":")
        if sep and name in _HEADER_NAMES:
            out[name] = value.strip()
    return out


def _valid_key_id(key_id: str) -> bool:
    return 1 <= len(key_id) <= 255 and all(0x21 <= ord(c) <= 0x7E for c in key_id)


class Keyring:
    """Private keys for decryption. HPKE tokens are matched by the key id they carry; a key added
    without an id is tried on every token of its algorithm (the AEAD tag tells whether it is the
    one) and then remembered under that id. RSA tokens are tried with every RSA key of their size.
    The batch key of each encapsulation is cached, so the tokens of one batch cost one
    decapsulation. Safe to share between threads."""

    def __init__(self):
        self._by_id: Dict[Tuple[str, str], object] = {}
        self._untagged: List[object] = []
        self._rsa: List[object] = []
        self._ids = set()
        self._cache: dict = {}
        self._lock = threading.Lock()

    # ---- adding keys ----

    def fingerprint_of(self, pem) -> str:
        """The SHA256: fingerprint of a private key's public half (docs/ENCRYPTION.md section 2)."""
        return tk.load_private_key(pem.encode() if isinstance(pem, str) else pem).fingerprint()

    def add_pem(self, pem, key_id: Optional[str] = None) -> Optional[str]:
        """Add a private key PEM (a key file's Key-ID line gives its id unless key_id is given).
        Returns the key id used (None when unknown). Raises ValueError for a bad key or id."""
        if isinstance(pem, str):
            pem = pem.encode()
        header = _key_file_header(pem)
        key = tk.load_private_key(pem)
        if "Algorithm" in header and header["Algorithm"] != key.algorithm:
            raise ValueError("the key file's Algorithm line does not match its key")
        if "Fingerprint" in header and header["Fingerprint"] != key.fingerprint():
            raise ValueError("the key file's Fingerprint line does not match its key")
        key_id = key_id or header.get("Key-ID") or None
        if key_id is not None and not _valid_key_id(key_id):
            raise ValueError("a key id is 1 to 255 printable ASCII characters without spaces")
        with self._lock:
            if isinstance(key, tk._RSAKey):
                self._rsa.append(key)
            elif key_id is None:
                self._untagged.append(key)
            else:
                self._by_id[(key.algorithm, key_id)] = key
            if key_id is not None:
                self._ids.add(key_id)
        return key_id

    def add_saved_response(self, data) -> Optional[str]:
        """Add the key of a saved REST response (JSON with privateKey and id, as POST .../keys
        returns a generated key)."""
        obj = json.loads(data) if isinstance(data, (str, bytes)) else data
        if not isinstance(obj, dict) or not obj.get("privateKey"):
            raise ValueError("a saved key response is a JSON object with a privateKey member")
        return self.add_pem(obj["privateKey"], obj.get("id") or None)

    def add_path(self, path: str) -> int:
        """Add a key file, a saved JSON response, or every such file in a directory. Returns the
        number of keys added; raises ValueError when there is none."""
        if os.path.isdir(path):
            n = 0
            for name in sorted(os.listdir(path)):
                full = os.path.join(path, name)
                if os.path.isfile(full):
                    try:
                        n += self.add_path(full)
                    except ValueError:
                        continue  # a public key, a README: not a private key
            if n == 0:
                raise ValueError("the directory holds no private key file")
            return n
        with open(path, "rb") as f:
            data = f.read()
        if data.lstrip().startswith(b"{"):
            self.add_saved_response(data)
        else:
            self.add_pem(data)
        return 1

    @classmethod
    def from_paths(cls, *paths: str) -> "Keyring":
        """A Keyring of the keys in the given files and directories."""
        ring = cls()
        for p in paths:
            ring.add_path(p)
        return ring

    # ---- decrypting ----

    def decrypt_value(self, token: str) -> Value:
        """Decrypt token to a Value (type and bytes). Raises MalformedToken, UnknownKey,
        AuthenticationFailed or XWingUnavailable."""
        if not isinstance(token, str):
            raise MalformedToken("a token is a string")
        if token.startswith("hpke"):
            return self._decrypt_hpke(tk._parse_hpke(token))
        ct = tk._parse_rsa(token)
        with self._lock:
            keys = [k for k in self._rsa if k.size == len(ct)]
        if not keys:
            raise UnknownKey("rsa-oaep-sha256 token: no RSA-%d key" % (8 * len(ct)))
        for k in keys:
            try:
                return Value(None, k.decrypt(ct))
            except ValueError:
                continue
        raise AuthenticationFailed("rsa-oaep-sha256 token: none of the RSA keys decrypts it (altered, or another key's)")

    def _decrypt_hpke(self, t) -> Value:
        with self._lock:
            exact = self._by_id.get((t.algorithm, t.key_id))
            candidates = ([exact] if exact is not None else []) + [k for k in self._untagged if k is not exact]
        if not candidates:
            raise UnknownKey("%s token of key %s: no such key" % (t.algorithm, t.key_id))
        for k in candidates:
            p = tk._open_hpke(k, t, self._cache)
            if p is None:
                continue
            if k is not exact:
                with self._lock:
                    self._by_id.setdefault((t.algorithm, t.key_id), k)
            return Value(None, p) if t.version == 1 else tk._decode_payload(p)
        raise AuthenticationFailed("%s token of key %s: authentication failed (altered, or another key's)" % (t.algorithm, t.key_id))

    def decrypt(self, token: str, exact_numbers: bool = False):
        """Decrypt token to its Python value: str, int/float (Decimal with exact_numbers), bool,
        dict or list; tokens that do not record the type (hpke1., RSA) give a str."""
        return self.decrypt_value(token).python(exact_numbers)

    def decrypt_json(self, token: str) -> str:
        """Decrypt token to the exact JSON text of its value."""
        return self.decrypt_value(token).json()

    def decrypt_text(self, token: Optional[str]) -> Optional[str]:
        """For SQL UDFs: None for None or "", else a string's text or another value's JSON text.
        Raises DecryptError for a token that does not decrypt."""
        if token is None or token == "":
            return None
        return self.decrypt_value(token).text()

    def try_decrypt(self, value):
        """value decrypted when it is a token this keyring opens; else value unchanged."""
        if not tk.is_token(value):
            return value
        try:
            return self.decrypt(value)
        except DecryptError:
            return value

    def decrypt_event(self, event: dict) -> dict:
        """A copy of a protected event (a dict, as json.loads gives it) with the values at the encrypt
        paths of its _phi manifest decrypted — or, without a manifest, every string that is a token
        this keyring opens. Keys are matched case-insensitively, arrays are transparent. Tokens it
        cannot open are left as they are."""
        event = json.loads(json.dumps(event))
        man = event.get("_phi")
        if not isinstance(man, dict):
            return _scan(event, self)
        for f in man.get("fields", []):
            if f.get("treatment") == "encrypt" and isinstance(f.get("path"), str):
                keys = split_path(f["path"])
                if keys:
                    _walk(event, keys, self)
        return event


def _walk(node, keys, ring):
    """Decrypt in place the values at keys below node (a dict or list)."""
    if isinstance(node, list):
        for i, el in enumerate(node):
            if isinstance(el, str) and not keys:
                node[i] = ring.try_decrypt(el)
            else:
                _walk(el, keys, ring)
        return
    if not isinstance(node, dict) or not keys:
        return
    want = keys[0].casefold()
    for k in list(node):
        if k.casefold() != want:
            continue
        v = node[k]
        if len(keys) == 1 and isinstance(v, str):
            node[k] = ring.try_decrypt(v)
        elif len(keys) == 1 and isinstance(v, list):
            _walk(v, [], ring)
        else:
            _walk(v, keys[1:], ring)


def _scan(node, ring):
    if isinstance(node, dict):
        return {k: _scan(v, ring) for k, v in node.items()}
    if isinstance(node, list):
        return [_scan(v, ring) for v in node]
    return ring.try_decrypt(node)


def split_path(path: str) -> List[str]:
    """The keys of a field path (docs/ENCRYPTION.md section 6.3), unescaped, [] dropped."""
    keys, cur, i = [], [], 0
    while i < len(path):
        c = path[i]
        if c == "\\" and i + 1 < len(path):
            cur.append(path[i + 1])
            i += 2
            continue
        if c == ".":
            keys.append("".join(cur))
            cur = []
        elif c == "[" and path[i : i + 2] == "[]":
            i += 2
            continue
        else:
            cur.append(c)
        i += 1
    keys.append("".join(cur))
    return keys


def decrypt_rows(ring: Keyring, rows: Iterable[dict], columns: Iterable[str]):
    """Yield each row (a dict, as csv.DictReader gives) with the named columns decrypted to text."""
    columns = list(columns)
    for row in rows:
        out = dict(row)
        for c in columns:
            if out.get(c):
                out[c] = ring.decrypt_text(out[c])
        yield out
