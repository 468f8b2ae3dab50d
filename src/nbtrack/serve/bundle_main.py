"""Serve the model of this bundle (written by `nbtrack bundle`): python serve.py [--host H] [--port P].

Needs only the packages of requirements.txt; no nbtrack workspace. The token
comes from NBTRACK_SERVE_TOKEN (or --token-file); without one only loopback
addresses may be bound. The model file's SHA-256 is checked before loading.
"""

from __future__ import annotations

import argparse
import hashlib
import ipaddress
import json
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "runtime"))


def _loopback(host: str) -> bool:
    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def build_app(token: str | None):
    from nbtrack.serve.app import create_app
    from nbtrack.serve.served import ModelTable, ServedModel
    from nbtrack.serve.validation import Schema
    from nbtrack.snapshot.model_io import loads

    meta = json.loads((HERE / "model" / "model.json").read_text())
    data = (HERE / "model" / meta["file"]).read_bytes()
    if hashlib.sha256(data).hexdigest() != meta["sha256"]:
        sys.exit(f"model/{meta['file']} does not match its recorded SHA-256: the bundle was altered")
    model = loads(data, meta["format"], meta.get("trust"), what=f"model {meta['name']}@{meta['version']}")
    served = ServedModel(meta["name"], meta["version"], model, Schema.from_dict(meta["schema"]), ref=meta["ref"],
                         alias=meta.get("alias"), info=meta.get("info") or {})
    table = ModelTable()
    table.put(meta["name"], served)
    return create_app(table, token=token, title=f"{meta['ref']} (version {meta['version']})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8000)
    ap.add_argument("--token-file")
    args = ap.parse_args()
    token = open(args.token_file).read().strip() if args.token_file else os.environ.get("NBTRACK_SERVE_TOKEN")
    from nbtrack.serve.guard import WeakToken, check_token

    try:
        check_token(token or None)
    except WeakToken as e:
        sys.exit(str(e))
    if not token and not _loopback(args.host):
        sys.exit(f"refusing to serve on {args.host} without a token: set NBTRACK_SERVE_TOKEN")
    import uvicorn

    uvicorn.run(build_app(token), host=args.host, port=args.port, log_level="info", access_log=False,
                server_header=False)


if __name__ == "__main__":
    main()
