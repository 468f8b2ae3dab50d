"""Encryption at rest of the object store (optional).

An encrypted store holds a marker file ``<objects root>/.nbtrack-encryption`` (JSON: the
cipher and a *key check value*). Its presence makes the key mandatory: a store with the
marker is never opened without the right key, so nothing is ever written to it in clear
or under another key.

From the 32-byte workspace key two sub-keys are derived (BLAKE3 in key-derivation mode):

* the *naming key*: an object's name is the keyed BLAKE3 of its plaintext, so equal
  content still gets one name (deduplication) and names reveal nothing without the key;
* the *encryption key*: AES-256-GCM with a random 96-bit nonce per object, the object id
  bound as associated data (a ciphertext moved under another name fails to decrypt).

Stored bytes: ``MAGIC (4) | nonce (12) | ciphertext | tag (16)``.

Key sources, first found wins: ``NBTRACK_KEY`` (64 hex characters), a key file
(``NBTRACK_KEY_FILE`` / ``--key-file`` / ``key_file`` in ``[store]`` of ``config.toml``;
refused if group- or world-readable), the OS keyring (``keyring`` package, service
``nbtrack``, user = the objects URL). Every key error is an :class:`InvalidKey`
whose message is one line containing "key".
"""

from __future__ import annotations

import json
import os
import stat

from blake3 import blake3

from ..errors import InvalidInput

MARKER = ".nbtrack-encryption"
JOURNAL = ".nbtrack-rekey"  # while a key change runs: the new marker, then one done object id a line
MAGIC = b"NBE1"
NONCE = 12
TAG = 16
OVERHEAD = len(MAGIC) + NONCE + TAG
CIPHER = "aes-256-gcm+blake3-keyed-names"
KEYRING_SERVICE = "nbtrack"


class InvalidKey(InvalidInput):
    """A missing, malformed or wrong encryption key (one line that says "key")."""


def parse_key(text: str, where: str) -> bytes:
    text = text.strip()
    if len(text) != 64 or any(c not in "0123456789abcdefABCDEF" for c in text):
        raise InvalidKey(f"the encryption key in {where} must be 64 hex characters (32 bytes), "
                         f"got {len(text)} characters")
    return bytes.fromhex(text)


def read_key_file(path: str) -> bytes:
    try:
        st = os.stat(path)
    except OSError as e:
        raise InvalidKey(f"cannot read key file {path}: {e.strerror or e}") from None
    if os.name == "posix" and st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise InvalidKey(f"key file {path} is readable by group or others "
                         f"(mode {stat.S_IMODE(st.st_mode):o}); run `chmod 600 {path}`")
    with open(path) as f:
        return parse_key(f.read(), f"key file {path}")


def keyring_key(url: str) -> bytes | None:
    """The key stored in the OS keyring for ``url`` (service ``nbtrack``), if any."""
    try:
        import keyring  # optional: pip install "nbtrack[encryption]"
    except ImportError:
        return None
    try:
        text = keyring.get_password(KEYRING_SERVICE, url)
    except Exception:  # no usable backend (headless machine): as if absent
        return None
    return None if text is None else parse_key(text, f"the OS keyring (service {KEYRING_SERVICE!r}, {url})")


def find_key(url: str, key_file: str | None = None) -> bytes | None:
    """The key from the environment, a key file or the OS keyring; None if none is set."""
    env = os.environ.get("NBTRACK_KEY")
    if env:
        return parse_key(env, "NBTRACK_KEY")
    path = os.environ.get("NBTRACK_KEY_FILE") or key_file
    if path:
        return read_key_file(os.path.expanduser(path))
    return keyring_key(url)


class Cipher:
    """Naming and authenticated encryption of objects under one key."""

    overhead = OVERHEAD

    def __init__(self, key: bytes, name_key: bytes | None = None) -> None:
        try:
            from cryptography.hazmat.primitives.ciphers.aead import AESGCM
        except ImportError as e:
            from ..errors import MissingExtra

            raise MissingExtra('encryption at rest needs the encryption extra: '
                               f'pip install "nbtrack[encryption]" ({e})',
                               extra="encryption", module="cryptography") from e

        if len(key) != 32:
            raise InvalidKey("the encryption key must be 32 bytes (64 hex characters)")
        self.name_key = name_key or blake3(key, derive_key_context="nbtrack 2026 object names").digest()
        self._wrap = AESGCM(blake3(key, derive_key_context="nbtrack 2026 key wrap").digest())
        self._enc_key = blake3(key, derive_key_context="nbtrack 2026 object encryption").digest()
        self._aead = AESGCM(self._enc_key)
        self.check = blake3(key, derive_key_context="nbtrack 2026 key check").hexdigest()

    def name(self, data: bytes) -> str:
        return blake3(data, key=self.name_key, max_threads=blake3.AUTO if len(data) > 1 << 20 else 1).hexdigest()

    def hasher(self):
        """An incremental keyed BLAKE3: ``hexdigest()`` after ``update``s is :meth:`name`."""
        return blake3(key=self.name_key)

    def encrypt(self, oid: str, data: bytes) -> bytes:
        nonce = os.urandom(NONCE)
        return MAGIC + nonce + self._aead.encrypt(nonce, data, oid.encode())

    def decrypt(self, oid: str, blob: bytes) -> bytes | None:
        """The plaintext, or None if ``blob`` is not an authentic ciphertext of ``oid``."""
        from cryptography.exceptions import InvalidTag

        if len(blob) < OVERHEAD or blob[:4] != MAGIC:
            return None
        try:
            return self._aead.decrypt(blob[4:4 + NONCE], memoryview(blob)[4 + NONCE:], oid.encode())
        except InvalidTag:
            return None


    def stream_encryptor(self, oid: str):
        """(header, encryptor) to encrypt a stream: write ``header``, then ``update(chunk)`` of
        each chunk, then ``finalize()`` and ``tag``. The same bytes as :meth:`encrypt`."""
        from cryptography.hazmat.primitives.ciphers import Cipher as _Cipher, algorithms, modes

        nonce = os.urandom(NONCE)
        enc = _Cipher(algorithms.AES(self._enc_key), modes.GCM(nonce)).encryptor()
        enc.authenticate_additional_data(oid.encode())
        return MAGIC + nonce, enc

    def stream_decryptor(self, oid: str, header: bytes):
        """A decryptor for the bytes after ``header`` (MAGIC + nonce); None if it is no header.
        End with ``finalize_with_tag(last 16 bytes)`` (raises InvalidTag if not authentic)."""
        from cryptography.hazmat.primitives.ciphers import Cipher as _Cipher, algorithms, modes

        if len(header) != len(MAGIC) + NONCE or header[:4] != MAGIC:
            return None
        dec = _Cipher(algorithms.AES(self._enc_key), modes.GCM(header[4:])).decryptor()
        dec.authenticate_additional_data(oid.encode())
        return dec

    def wrap_names(self, name_key: bytes) -> str:
        """``name_key`` encrypted under this key (a rekeyed store keeps its object names)."""
        nonce = os.urandom(NONCE)
        return (nonce + self._wrap.encrypt(nonce, name_key, b"names")).hex()

    def unwrap_names(self, text: str) -> bytes:
        from cryptography.exceptions import InvalidTag

        raw = bytes.fromhex(text)
        try:
            return self._wrap.decrypt(raw[:NONCE], raw[NONCE:], b"names")
        except InvalidTag:
            raise InvalidKey("the naming key in the encryption marker does not open with this key") from None


def marker_bytes(cipher: Cipher, names: str | None = None) -> bytes:
    info = {"cipher": CIPHER, "check": cipher.check}
    if names:
        info["names"] = names
    return json.dumps(info).encode()


def open_cipher(key: bytes, raw: bytes, where: str) -> Cipher:
    """The cipher of a store whose marker is ``raw``, opened with ``key`` (checked)."""
    cipher = Cipher(key)
    check_marker(raw, cipher, where)
    names = json.loads(raw).get("names")
    return Cipher(key, cipher.unwrap_names(names)) if names else cipher


def check_marker(raw: bytes, cipher: Cipher, where: str) -> None:
    try:
        info = json.loads(raw)
        check = info["check"]
    except (ValueError, KeyError, TypeError):
        raise InvalidKey(f"the encryption marker {where} is unreadable; cannot check the key") from None
    if info.get("cipher") != CIPHER:
        raise InvalidKey(f"{where}: unknown cipher {info.get('cipher')!r}; cannot use this key with it")
    if check != cipher.check:
        raise InvalidKey(f"wrong encryption key for {where}: it does not match the key this store was "
                         "encrypted with (NBTRACK_KEY, key file or OS keyring)")
