"""What every route answers matches the response schema openapi.yml declares for it.

labextension/src/schema.d.ts is generated from these schemas (`jlpm schema`), so this is what
keeps the sidebar's types honest about the server."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote

import jsonschema
import pytest
import yaml
from labserver import NOTEBOOK

import nbtrack.jupyter

NB = f"notebook={quote(NOTEBOOK)}"
SPEC = yaml.safe_load(Path(nbtrack.jupyter.__file__).with_name("openapi.yml").read_text())


def _json_schema(node: Any) -> Any:
    """OpenAPI 3.0 -> JSON Schema: ``nullable: true`` becomes a ``null`` type."""
    if isinstance(node, list):
        return [_json_schema(x) for x in node]
    if not isinstance(node, dict):
        return node
    out = {k: _json_schema(v) for k, v in node.items() if k not in ("nullable", "example")}
    if node.get("nullable") and "type" in node:
        out["type"] = [node["type"], "null"]
    return out


COMPONENTS = _json_schema(SPEC["components"])


def _schema(route: str, verb: str, status: int) -> dict:
    response = SPEC["paths"][route][verb]["responses"][str(status)]
    if "$ref" in response:
        response = SPEC["components"]["responses"][response["$ref"].rsplit("/", 1)[1]]
    return {**_json_schema(response["content"]["application/json"]["schema"]), "components": COMPONENTS}


def check(route: str, body: Any, verb: str = "get", status: int = 200) -> None:
    jsonschema.Draft202012Validator(_schema(route, verb, status)).validate(body)


def test_schemas_are_valid_json_schema():
    for schema in COMPONENTS["schemas"].values():
        jsonschema.Draft202012Validator.check_schema(schema)  # raises naming the bad part


def test_the_check_catches_a_wrong_answer():
    with pytest.raises(jsonschema.ValidationError):
        check("/info", {"version": "1", "workspace": 3})
    with pytest.raises(jsonschema.ValidationError):
        check("/info", {"version": "1"})  # workspace is required (null when there is none)


def test_read_routes_match_their_schemas(server, data):
    a, b = data.cell_a[0], data.cell_a[-1]
    for route, url in [
        ("/info", f"info?{NB}"),
        ("/cells", f"cells?{NB}"),
        ("/runs", f"runs?{NB}&limit=5"),
        ("/runs", f"runs?{NB}&cell={quote(data.notebook_abs + '::train')}"),
        ("/runs/{run}", f"runs/{b}?{NB}"),
        ("/runs/{run}/source", f"runs/{a}/source?{NB}"),
        ("/diff", f"diff?a={a}&b={b}&{NB}"),
        ("/models", f"models?{NB}"),
        ("/models/{name}", f"models/churn?{NB}"),
        ("/datasets", f"datasets?{NB}"),
        ("/events", f"events?{NB}"),
    ]:
        status, body = server.get(url)
        assert status == 200, (url, body)
        check(route, body)
    status, run = server.get(f"runs/{b}?{NB}")
    assert run["artifacts"] and run["metric_history"]  # the nested schemas were exercised


def test_error_answers_match_the_error_schema(server, data):
    status, body = server.get(f"runs/0123456789abcdef?{NB}")
    assert status == 404
    check("/runs/{run}", body, status=404)
    status, body = server.request(f"models/churn/aliases?{NB}", method="POST", body={"action": "x", "alias": "p"})
    assert status == 400
    check("/models/{name}/aliases", body, verb="post", status=400)


def test_alias_change_matches_its_schema(server, data):
    status, body = server.request(f"models/churn/aliases?{NB}", method="POST",
                                  body={"action": "promote", "alias": "staging", "version": 2,
                                        "gate": "accuracy >= 0.99"})
    assert status == 200 and body["result"]["accepted"] is False
    check("/models/{name}/aliases", body, verb="post")
