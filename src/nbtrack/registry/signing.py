"""Signed approvals: an approval signs what it froze with the approver's Ed25519 key.

The signed payload is the canonical JSON of the pipeline version's name, number, frozen
notebook object id (a BLAKE3 hash of its content), parameters schema, pinned inputs,
environment object id and approver. The approver's private key comes from
``NBTRACK_SIGNING_KEY`` (64 hex characters: the raw 32-byte Ed25519 private key) or the
file ``NBTRACK_SIGNING_KEY_FILE`` names (the same text; refused when group- or
world-readable). Public keys live in the workspace's ``config.toml``::

    [keys]
    alice = "<64 hex characters>"

With ``require_signed_approvals = true`` under ``[registry]``, ``nbtrack run`` refuses an
approved version whose signature is missing, made by a key not listed for its approver, or
does not match what is stored now (a swapped notebook, edited parameters or pins).
"""

from __future__ import annotations

import json
import os
import re
import stat
from pathlib import Path
from typing import Any

from ..errors import ApprovalRequired, InvalidInput
from ..workspace import Workspace
from .governance import config_path, policy

_HEX64 = re.compile(r"^[0-9a-fA-F]{64}$")
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,254}$")


def _crypto():
    try:
        from cryptography.hazmat.primitives.asymmetric import ed25519
    except ImportError:  # pragma: no cover - cryptography is a dependency of the signing extra
        raise InvalidInput("signed approvals need the cryptography package: pip install 'nbtrack[signing]'") from None
    return ed25519


def payload(name: str, version: int, notebook_oid: str, parameters: Any, pins: Any, env_oid: str | None,
            approved_by: str | None) -> bytes:
    doc = {"pipeline": name, "version": int(version), "notebook_oid": notebook_oid, "parameters": parameters,
           "pins": pins, "env_oid": env_oid, "approved_by": approved_by}
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str).encode()


def generate_key() -> tuple[str, str]:
    """A new Ed25519 key pair as ``(private hex, public hex)``."""
    from cryptography.hazmat.primitives import serialization as ser

    key = _crypto().Ed25519PrivateKey.generate()
    priv = key.private_bytes(ser.Encoding.Raw, ser.PrivateFormat.Raw, ser.NoEncryption()).hex()
    return priv, public_hex(key)


def public_hex(key: Any) -> str:
    from cryptography.hazmat.primitives import serialization as ser

    return key.public_key().public_bytes(ser.Encoding.Raw, ser.PublicFormat.Raw).hex()


def signing_key() -> Any | None:
    """The approver's private key from the environment, or None when none is configured."""
    text, where = os.environ.get("NBTRACK_SIGNING_KEY"), "NBTRACK_SIGNING_KEY"
    path = os.environ.get("NBTRACK_SIGNING_KEY_FILE")
    if not text and path:
        where = path
        try:
            mode = os.stat(path).st_mode
        except OSError as e:
            raise InvalidInput(f"signing key file {path}: {e.strerror}") from None
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise InvalidInput(f"signing key file {path} is readable by others: chmod 600 {path}")
        text = Path(path).read_text()
    if not text:
        return None
    text = text.strip()
    if not _HEX64.match(text):
        raise InvalidInput(f"the signing key in {where} must be 64 hex characters (a raw Ed25519 private key)")
    return _crypto().Ed25519PrivateKey.from_private_bytes(bytes.fromhex(text))


def sign(data: bytes) -> tuple[str, str] | None:
    """``(public hex, signature hex)`` of ``data`` with the configured key, or None without one."""
    key = signing_key()
    if key is None:
        return None
    return public_hex(key), key.sign(data).hex()


def public_keys(ws: Workspace) -> dict[str, str]:
    path = config_path(ws)
    if path is None or not path.is_file():
        return {}
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib
    try:
        keys = tomllib.loads(path.read_text()).get("keys", {})
    except Exception as e:
        raise InvalidInput(f"{path} is not valid TOML: {e}") from e
    return {k: v for k, v in keys.items() if isinstance(v, str)}


def add_key(name: str, pubkey: str, workspace: Workspace) -> Path:
    """Record ``name``'s public key (64 hex characters) in the workspace's ``config.toml``."""
    if not _NAME.match(name or ""):
        raise InvalidInput(f"key name {name!r} must be a user name such as 'alice' (letters, digits, _ . -)")
    pubkey = (pubkey or "").strip()
    if not _HEX64.match(pubkey):
        raise InvalidInput("PUBKEY must be 64 hex characters (a raw Ed25519 public key)")
    _crypto().Ed25519PublicKey.from_public_bytes(bytes.fromhex(pubkey))
    path = config_path(workspace)
    if path is None:
        raise InvalidInput("this workspace has no folder for config.toml (it was opened by database URL)")
    lines = path.read_text().splitlines() if path.is_file() else []
    line = f'{name} = "{pubkey.lower()}"'
    start = next((i for i, t in enumerate(lines) if t.strip() == "[keys]"), None)
    if start is None:
        lines += ["", "[keys]", line]
    else:
        end = next((i for i in range(start + 1, len(lines)) if lines[i].lstrip().startswith("[")), len(lines))
        same = [i for i in range(start + 1, end) if re.match(rf"^\s*\"?{re.escape(name)}\"?\s*=", lines[i])]
        if same:
            lines[same[0]] = line
        else:
            lines.insert(start + 1, line)
    path.write_text("\n".join(lines).lstrip("\n") + "\n")
    return path


def signature_doc(name: str, version: int, notebook_oid: str, parameters: Any, pins: Any, env_oid: str | None,
                  approved_by: str | None, workspace: Workspace | None = None) -> str | None:
    """The JSON stored with an approval, or None when no signing key is configured.

    With ``workspace``: a key other than the one the workspace lists for ``approved_by`` is refused
    (it would only fail later, at ``nbtrack run``).
    """
    signed = sign(payload(name, version, notebook_oid, parameters, pins, env_oid, approved_by))
    if signed is None:
        return None
    listed = public_keys(workspace).get(approved_by or "") if workspace is not None else None
    if listed and listed.lower() != signed[0]:
        raise InvalidInput(f"the signing key in NBTRACK_SIGNING_KEY is not the key listed for {approved_by} in the "
                           f"workspace (public key {signed[0]}); use your own key or `nbtrack keys add`")
    return json.dumps({"signer": approved_by, "public_key": signed[0], "ed25519": signed[1]})


def check(ws: Workspace, p: Any) -> None:
    """Refuse pipeline version ``p`` (an approve.Pipeline) when the workspace requires signatures
    and its signature is missing, unknown or does not match what is stored now."""
    if not policy(ws).require_signed_approvals:
        return
    ref = f"{p.name}@{p.version}"
    if not p.signature:
        raise ApprovalRequired(f"{ref} is not signed and this workspace requires signed approvals: approve it again "
                               "with NBTRACK_SIGNING_KEY set to the approver's key")
    try:
        doc = json.loads(p.signature)
        sig = bytes.fromhex(doc["ed25519"])
    except (ValueError, KeyError, TypeError):
        raise ApprovalRequired(f"{ref}: its signature is unreadable; refusing to run it") from None
    known = public_keys(ws).get(p.approved_by or "")
    if not known:
        raise ApprovalRequired(f"{ref}: no public key for its approver {p.approved_by!r} in the workspace "
                               f"(nbtrack keys add {p.approved_by} PUBKEY); refusing to run it")
    data = payload(p.name, p.version, p.notebook_oid, p.parameters, p.pins, p.env_oid, p.approved_by)
    from cryptography.exceptions import InvalidSignature

    try:
        _crypto().Ed25519PublicKey.from_public_bytes(bytes.fromhex(known)).verify(sig, data)
    except (InvalidSignature, ValueError):
        raise ApprovalRequired(f"{ref}: the signature of {p.approved_by} does not match: the approved notebook, its "
                               "parameters, pinned inputs or environment changed after approval (or the signature "
                               "did); refusing to run it") from None
