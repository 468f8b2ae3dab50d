"""``[store]`` of a workspace's ``config.toml``: where metadata and objects live, never how
to log in there (credentials and endpoints come from each service's standard environment)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from ..errors import InvalidInput

OBJECT_SCHEMES = ("s3", "s3a", "gs", "gcs", "az", "abfs", "abfss", "memory", "file")
META_SCHEMES = ("sqlite", "postgresql", "postgres")


def check_meta_url(url: str) -> None:
    """A database URL fit for config.toml: a known database, no password in it."""
    parts = urlsplit(url)
    if parts.scheme.split("+")[0] not in META_SCHEMES:
        raise InvalidInput(f"--meta must be a database URL such as postgresql+psycopg://user@host/db "
                           f"or sqlite:///path/meta.db, got {url!r}")
    if parts.password:
        raise InvalidInput("--meta must not hold a password (it would be written to config.toml): "
                           "leave it out and set PGPASSWORD or ~/.pgpass")
    if any(k.lower() in ("password", "sslkey", "sslpassword") for k in parse_qs(parts.query)):
        raise InvalidInput("--meta must not hold a password or key in its query: use PGPASSWORD or ~/.pgpass")


def check_objects_url(url: str) -> None:
    """An object store URL fit for config.toml: a folder or a known scheme, no credentials,
    no endpoint (``AWS_ENDPOINT_URL`` and the AWS config files say where S3 is)."""
    if "://" not in url:
        return
    parts = urlsplit(url)
    if parts.scheme not in OBJECT_SCHEMES:
        raise InvalidInput(f"--objects must be a folder or a URL such as s3://bucket/prefix "
                           f"({', '.join(s + '://' for s in OBJECT_SCHEMES)}), got {url!r}")
    if parts.username or parts.password or parts.query:
        raise InvalidInput("--objects must not hold credentials, an endpoint or options: set them in the "
                           "standard environment (AWS_ACCESS_KEY_ID, AWS_PROFILE, AWS_ENDPOINT_URL, ~/.aws/config)")
    if parts.scheme in ("s3", "s3a", "gs", "gcs") and not parts.netloc:
        raise InvalidInput(f"--objects {url!r} names no bucket: use {parts.scheme}://bucket/prefix")


def write_store_config(cfg: Path, meta: str | None, objects: str | None) -> None:
    """Set ``meta`` and ``objects`` in ``[store]`` of ``cfg``; refuse to change ones already set."""
    text = cfg.read_text() if cfg.is_file() else ""
    wanted = {k: v for k, v in (("meta", meta), ("objects", objects)) if v is not None}
    store = _store_section(cfg, text)
    for key, value in list(wanted.items()):
        if key in store:
            if store[key] != value:
                raise InvalidInput(f"{cfg} already sets {key} = {store[key]!r}; this workspace keeps it "
                                   f"(nbtrack migrate-store moves a workspace elsewhere)")
            del wanted[key]
    if not wanted:
        return
    lines = [f"{k} = {json.dumps(v)}" for k, v in wanted.items()]
    m = re.search(r"^\[store\][ \t]*$", text, flags=re.M)
    if m:
        text = text[:m.end()] + "\n" + "\n".join(lines) + text[m.end():]
    else:
        text = (text + ("\n" if text and not text.endswith("\n") else "")) + "[store]\n" + "\n".join(lines) + "\n"
    cfg.write_text(text)


def _store_section(cfg: Path, text: str) -> dict:
    import sys

    if sys.version_info >= (3, 11):
        import tomllib
    else:  # Python 3.10
        import tomli as tomllib
    try:
        return tomllib.loads(text).get("store", {})
    except Exception as e:
        raise InvalidInput(f"{cfg} is not valid TOML: {e}") from e
