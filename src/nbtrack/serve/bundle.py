"""Deployment bundles: a folder that serves one model version with no workspace.

``bundle("churn@production", "dist/churn")`` writes::

    model/model.nbmodel          the version's stored bytes (nbtrack.model/1; or model.skops, model.joblib)
    model/model.json             name, version, format, trusted types, schema, provenance
    runtime/nbtrack/...          the nbtrack modules the server needs (app, validation, loading)
    serve.py                     python serve.py [--host H] [--port P]
    requirements.txt             exact versions of what this model and the server need
    Dockerfile                   slim Python base, non-root user, HEALTHCHECK on /health
    MANIFEST.json                SHA-256 of every other file

Requirements are the distributions of the model's own modules (from the types
in its file) and of the server's runtime, with their dependencies, pinned to
the versions of the **training run's environment fingerprint** (the current
environment's version only for packages the fingerprint lacks).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import sys
import zipfile
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from ..errors import InvalidInput, NbtrackError
from ..workspace import Workspace, get_workspace

RUNTIME = ("starlette", "uvicorn", "prometheus_client", "pandas", "pyarrow", "numpy")
VENDORED = ("errors.py", "snapshot/model_io.py", "snapshot/model_raw.py", "snapshot/trusted_types.py",
            "snapshot/skops_rules.py", "serve/app.py", "serve/guard.py", "serve/batcher.py",
            "serve/bodies.py", "serve/metrics.py", "serve/openapi.py", "serve/served.py", "serve/validation.py")
STUBS = {"__init__.py": '"""The part of nbtrack a deployment bundle needs to serve a model."""\n',
         "snapshot/__init__.py": "", "serve/__init__.py": ""}
MANIFEST = "MANIFEST.json"


@dataclass
class Bundle:
    """A written bundle: ``path``, ``model``, ``version`` and ``files`` (relative path -> sha256)."""

    path: str
    model: str
    version: int
    files: dict[str, str] = field(default_factory=dict)


@dataclass
class BundleCheck:
    path: str
    model: str
    version: int
    files: int


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def model_modules(data: bytes, fmt: str, class_name: str | None) -> set[str]:
    """Top-level modules of the types in a skops file (or of the class, for joblib)."""
    roots = {class_name.split(".", 1)[0]} if class_name else set()
    if fmt == "nbtrack.model/1":
        from ..snapshot.model_raw import archive_types

        return roots | {"numpy"} | {t.split(".", 1)[0] for t in archive_types(data)}
    if fmt != "skops":
        return roots
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        schema = json.loads(z.read("schema.json"))

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            mod = node.get("__module__")
            if isinstance(mod, str):
                roots.add(mod.split(".", 1)[0])
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(schema)
    return {r.lstrip("_") if r.lstrip("_") in sys.stdlib_module_names else r for r in roots} - {"builtins"}


def _distributions(modules: set[str]) -> set[str]:
    by_module = metadata.packages_distributions()
    out: set[str] = set()
    for m in modules:
        if m in sys.stdlib_module_names:
            continue
        dists = by_module.get(m) or []
        out.update(_norm(d) for d in dists[:1])
        if not dists:
            try:
                out.add(_norm(metadata.distribution(m).metadata["Name"]))
            except metadata.PackageNotFoundError:
                pass
    return out - {"nbtrack"}


def _closure(roots: set[str]) -> set[str]:
    """The distributions and everything they require (markers evaluated here, extras not taken)."""
    from packaging.requirements import Requirement

    seen, todo = set(), list(roots)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        try:
            reqs = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            continue
        for text in reqs:
            req = Requirement(text)
            if req.marker is not None and not req.marker.evaluate({"extra": ""}):
                continue
            todo.append(_norm(req.name))
    return seen


def training_packages(ws: Workspace, run_id: str | None) -> tuple[dict[str, str], str | None]:
    """``({distribution: version}, python version)`` of the run that trained the version."""
    from sqlalchemy import select

    from ..store.schema import runs

    if run_id is None:
        return {}, None
    with ws.meta.read() as conn:
        oid = conn.execute(select(runs.c.env_oid).where(runs.c.id == run_id)).scalar()
    if not oid:
        return {}, None
    try:
        env = json.loads(ws.objects.get(oid))
    except Exception:
        return {}, None
    return {_norm(k): v for k, v in (env.get("packages") or {}).items()}, env.get("python")


def requirements(data: bytes, fmt: str, class_name: str | None, pinned: dict[str, str]) -> list[str]:
    """``name==version`` lines for the model's packages and the server's runtime."""
    modules = model_modules(data, fmt, class_name) | set(RUNTIME) | ({"joblib"} if fmt == "joblib" else {"skops"})
    lines = []
    for dist in sorted(_closure(_distributions(modules))):
        version = pinned.get(dist)
        if version is None:
            try:
                version = metadata.version(dist)
            except metadata.PackageNotFoundError:
                continue
        lines.append(f"{dist}=={version}")
    return lines


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def bundle(ref: str, output: str | os.PathLike, *, trust: bool | list[str] | None = None,
           workspace: Workspace | None = None) -> Bundle:
    """Write a deployment bundle of a model version into the folder ``output`` (must be new or empty).

    Parameters
    ----------
    ref : str
        ``"churn@production"``, ``"churn@3"``...; the bundle serves that one version.
    trust : bool or list of str
        As for :func:`nbtrack.load_model`; recorded in the bundle so its server
        loads the model under the same trust.

    Returns
    -------
    Bundle
        With the SHA-256 of every file (also written to ``MANIFEST.json``).
    """
    from ..snapshot.models import get_model_version
    from .source import load_served

    ws = workspace or get_workspace()
    mv = get_model_version(ref, ws)
    served = load_served(ref, trust, ws, mv=mv)  # refuses untrusted models here, not in production
    out = Path(output)
    if out.exists() and any(out.iterdir()):
        raise InvalidInput(f"{out} is not empty; choose a new folder for the bundle")
    data = ws.objects.get(mv.oid)
    pinned, python = training_packages(ws, mv.run_id)
    pinned = {**{_norm(k): v for k, v in ((mv.signature or {}).get("packages") or {}).items()}, **pinned}
    pinned = {("scikit-learn" if k == "sklearn" else k): v for k, v in pinned.items()}
    ext = {"skops": "skops", "joblib": "joblib"}.get(mv.format, "nbmodel")
    files: dict[str, bytes] = {
        f"model/model.{ext}": data,
        "model/model.json": json.dumps({
            "name": served.name, "version": mv.version, "ref": ref, "format": mv.format, "file": f"model.{ext}",
            "sha256": hashlib.sha256(data).hexdigest(), "trust": trust, "schema": served.schema.to_dict(),
            "info": served.info, "alias": served.alias}, indent=2, sort_keys=True, default=str).encode(),
        "requirements.txt": ("\n".join(requirements(data, mv.format, mv.class_name, pinned)) + "\n").encode(),
        "Dockerfile": dockerfile(python or ".".join(map(str, sys.version_info[:2]))).encode(),
        "serve.py": (Path(__file__).with_name("bundle_main.py")).read_bytes(),
    }
    pkg = Path(__file__).resolve().parents[1]
    for rel in VENDORED:
        files[f"runtime/nbtrack/{rel}"] = (pkg / rel).read_bytes()
    for rel, text in STUBS.items():
        files[f"runtime/nbtrack/{rel}"] = text.encode()
    out.mkdir(parents=True, exist_ok=True)
    digests = {}
    for rel, content in sorted(files.items()):
        path = out / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        digests[rel] = hashlib.sha256(content).hexdigest()
    (out / MANIFEST).write_text(json.dumps({"model": served.name, "version": mv.version, "ref": ref,
                                            "files": digests}, indent=2, sort_keys=True) + "\n")
    return Bundle(str(out), served.name, mv.version, digests)


def dockerfile(python: str) -> str:
    minor = ".".join(python.split(".")[:2])
    return f"""# Serves one nbtrack model version; built by `nbtrack bundle`.
FROM python:{minor}-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN useradd --create-home --uid 10001 --shell /usr/sbin/nologin app
WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY --chown=app:app . .
USER app
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \\
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=4)"]
# binding beyond loopback needs a token: docker run -e NBTRACK_SERVE_TOKEN=... -p 8000:8000 IMAGE
CMD ["python", "serve.py", "--host", "0.0.0.0", "--port", "8000"]
"""


def check_bundle(path: str | os.PathLike) -> BundleCheck:
    """Verify every file of a bundle against its ``MANIFEST.json``.

    Raises
    ------
    NbtrackError
        Naming each changed, missing or unexpected file (exit code 1 in the CLI).
    """
    root = Path(path)
    try:
        manifest = json.loads((root / MANIFEST).read_text())
    except (OSError, ValueError) as e:
        raise InvalidInput(
            f"{root} has no readable {MANIFEST} ({e}); is it a bundle written by `nbtrack bundle`?") from None
    expected: dict[str, str] = manifest["files"]
    problems = []
    for rel, digest in sorted(expected.items()):
        p = root / rel
        if not p.is_file():
            problems.append(f"{rel} is missing")
        elif _sha256(p) != digest:
            problems.append(f"{rel} changed")
    ignore = {MANIFEST}
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root).as_posix()
        if p.is_file() and rel not in expected and rel not in ignore and not _ignorable(rel):
            problems.append(f"{rel} is not part of the bundle")
    if problems:
        raise NbtrackError(f"bundle {root} does not match its manifest: {'; '.join(problems)}")
    return BundleCheck(str(root), manifest["model"], manifest["version"], len(expected))


def _ignorable(rel: str) -> bool:
    """Files a bundle gains by being used: bytecode caches, a local virtual environment."""
    parts = rel.split("/")
    return "__pycache__" in parts or parts[0] in (".venv", "venv") or rel.endswith(".pyc")
