"""The OpenAPI 3.1 document of a server: one predict operation per served model.

Each model's request schema lists its input columns with JSON types derived
from the training dtypes, so clients can be generated from ``/openapi.json``.
"""

from __future__ import annotations

from typing import Any

_JSON_TYPES = {"float": ["number", "null"], "int": "integer", "bool": "boolean", "str": "string",
               "category": ["string", "number"], "datetime": "string"}


def _row_schema(served: Any) -> dict[str, Any]:
    cols = served.schema.columns
    if not cols:
        return {"type": "object"}
    props = {}
    for c in cols:
        t = _JSON_TYPES.get(c.kind)
        p: dict[str, Any] = {"description": f"trained as {c.dtype}"} if c.dtype else {}
        if t is not None:
            p["type"] = t if c.nullable or not isinstance(t, list) else [x for x in t if x != "null"]
        props[c.name] = p
    return {"type": "object", "properties": props, "required": [c.name for c in cols],
            "additionalProperties": False}


def _operation(key: str, served: Any) -> dict[str, Any]:
    row = _row_schema(served)
    body = {"oneOf": [
        {"type": "object", "required": ["records"], "properties": {"records": {"type": "array", "items": row}}},
        {"type": "object", "required": ["columns", "data"],
         "properties": {"columns": {"type": "array", "items": {"type": "string"}},
                        "data": {"type": "array", "items": {"type": "array"}}}},
    ]}
    ok = {"type": "object", "properties": {
        "model": {"type": "string"}, "version": {"type": "integer"}, "request_id": {"type": "string"},
        "predictions": {"type": "array"}, "probabilities": {"type": "array"}, "classes": {"type": "array"}}}
    return {
        "operationId": f"predict_{key}".replace("@", "_").replace("/", "_").replace(".", "_").replace("-", "_"),
        "summary": f"Predict with {served.ref or key} (version {served.version})",
        "parameters": [{"name": "proba", "in": "query", "required": False, "schema": {"type": "boolean"},
                        "description": "return class probabilities (predict_proba)"}],
        "requestBody": {"required": True, "content": {
            "application/json": {"schema": body},
            "text/csv": {"schema": {"type": "string"}},
            "application/vnd.apache.parquet": {"schema": {"type": "string", "format": "binary"}}}},
        "responses": {
            "200": {"description": "predictions; X-Model-Version names the version that answered",
                    "headers": {"X-Model-Version": {"schema": {"type": "integer"}}},
                    "content": {"application/json": {"schema": ok}}},
            "401": {"description": "missing or wrong bearer token"},
            "404": {"description": "no such model"},
            "413": {"description": "body too large"},
            "422": {"description": "rows do not match the signature; 'problems' names each one"},
        },
    }


def document(models: Any, title: str) -> dict[str, Any]:
    paths: dict[str, Any] = {
        "/health": {"get": {"summary": "Liveness (no token needed)", "responses": {"200": {"description": "ok"}}}},
        "/metrics": {"get": {"summary": "Prometheus metrics", "responses": {"200": {"description": "text"}}}},
        "/v1/models": {"get": {"summary": "Served models", "responses": {"200": {"description": "list"}}}},
    }
    for key, served in models.items():
        paths[f"/v1/models/{key}/predict"] = {"post": _operation(key, served)}
        paths[f"/v1/models/{key}"] = {"get": {"summary": f"Version, signature and provenance of {key}",
                                               "responses": {"200": {"description": "metadata"}}}}
    return {"openapi": "3.1.0", "info": {"title": title, "version": "1"},
            "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
            "security": [{"bearer": []}], "paths": paths}
