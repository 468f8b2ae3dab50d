"""The routes the server registers are exactly the ones openapi.yml describes."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

import nbtrack.jupyter
from nbtrack.jupyter.handlers import ROUTES

SPEC = Path(nbtrack.jupyter.__file__).with_name("openapi.yml")
VERBS = {"get", "post", "put", "patch", "delete"}


def _spec() -> dict:
    return yaml.safe_load(SPEC.read_text())


def _shape(path: str) -> str:
    """``runs/([^/]+)/source`` and ``/runs/{run}/source`` both -> ``/runs/{}/source``."""
    path = re.sub(r"\([^)]*\)", "{}", path)
    return "/" + re.sub(r"{\w+}", "{}", path).lstrip("/")


def _registered() -> dict[str, set[str]]:
    return {_shape(pattern): {v for v in VERBS if v in handler.__dict__} for pattern, handler in ROUTES}


def test_every_registered_route_is_described_and_vice_versa():
    spec_paths = {_shape(p): {v for v in ops if v in VERBS} for p, ops in _spec()["paths"].items()}
    assert _registered() == spec_paths


def test_every_handler_verb_requires_authentication():
    for _pattern, handler in ROUTES:
        for verb in VERBS & set(handler.__dict__):
            fn = handler.__dict__[verb]
            # tornado.web.authenticated wraps the method (functools.wraps keeps __wrapped__)
            assert getattr(fn, "__wrapped__", None) is not None, f"{handler.__name__}.{verb} is not authenticated"


def test_spec_is_valid_enough():
    spec = _spec()
    assert spec["openapi"].startswith("3.")
    for path, ops in spec["paths"].items():
        params = set(re.findall(r"{(\w+)}", path))
        for verb, op in ops.items():
            declared = set()
            for p in op.get("parameters", []):
                if "$ref" in p:
                    p = spec["components"]["parameters"][p["$ref"].rsplit("/", 1)[1]]
                if p["in"] == "path":
                    declared.add(p["name"])
            assert declared == params, (path, verb)
            assert op["responses"], (path, verb)
