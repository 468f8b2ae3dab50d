"""REST routes under ``{base_url}/nbtrack/api/`` (described in ``openapi.yml``).

Each handler is a thin shell over the public ``nbtrack`` API: parse the query,
call the API off the event loop, return JSON. Errors become statuses in
:mod:`nbtrack.jupyter.base`, nowhere else.
"""

from __future__ import annotations

import json
import os
from typing import Any
from urllib.parse import quote

from jupyter_server.utils import url_path_join
from tornado import web

import nbtrack

from ..errors import InvalidInput, NotFound
from ..workspace import get_workspace
from . import serialize
from .base import BodyHandler, NbtrackHandler

PAGE_MAX = 1000
ID = r"([^/]+)"


class InfoHandler(NbtrackHandler):
    @web.authenticated
    async def get(self) -> None:
        def info() -> dict[str, Any]:
            try:
                ws = self.workspace()
                where = ws.root or "database"
            except NotFound as e:
                return {"version": nbtrack.__version__, "workspace": None, "message": str(e)}
            return {"version": nbtrack.__version__, "workspace": where}

        self.reply(await self.call(info))


class RunsHandler(NbtrackHandler):
    @web.authenticated
    async def get(self) -> None:
        notebook = self.get_argument("notebook", "") or ""
        cell = self.get_argument("cell", "") or None
        user_filter = (self.get_argument("filter", "") or "").strip()
        order_by = self.get_argument("order_by", "") or None
        offset = self.int_arg("offset", 0)
        limit = self.int_arg("limit", 50, lo=1, hi=PAGE_MAX)
        # the notebook scope is a structured filter; the user's filter is compiled on its own
        scope: dict[str, Any] = {"cell_key": cell,
                                 "notebook": self.notebook_names(notebook) if notebook and not cell else None}

        def page() -> dict[str, Any]:
            ws = self.workspace()
            df = nbtrack.runs(filter=user_filter or None, order_by=order_by, limit=limit, offset=offset,
                              workspace=ws, **scope)
            total = nbtrack.count_runs(filter=user_filter or None, workspace=ws, **scope)
            return {"runs": serialize.run_rows(df), "total": total, "offset": offset, "limit": limit}

        self.reply(await self.call(page))


class RunHandler(NbtrackHandler):
    @web.authenticated
    async def get(self, run_id: str) -> None:
        def detail() -> dict[str, Any]:
            ws = self.workspace()
            run = nbtrack.get_run(run_id, workspace=ws)
            nb = self.get_argument("notebook", "") or ""
            suffix = f"?notebook={quote(nb)}" if nb else ""

            def url(name: str) -> str:
                return f"artifacts/{quote(run.id, safe='')}/{quote(name, safe='')}{suffix}"

            d = serialize.run_detail(run, run.metric_history(), url)
            d["lineage"] = serialize.run_io(run)
            return d

        self.reply(await self.call(detail))


class SourceHandler(NbtrackHandler):
    @web.authenticated
    async def get(self, run_id: str) -> None:
        def source() -> dict[str, Any]:
            run = nbtrack.get_run(run_id, workspace=self.workspace())
            label = run.cell_key.split("::", 1)[1] if run.cell_key and "::" in run.cell_key else None
            return {"id": run.id, "cell_id": run.cell_id, "cell_key": run.cell_key, "label": label,
                    "cell_version": run.cell_version, "source": run.source}

        self.reply(await self.call(source))


class CellsHandler(NbtrackHandler):
    @web.authenticated
    async def get(self) -> None:
        notebook = self.get_argument("notebook", "") or ""
        if not notebook:
            raise InvalidInput("give the notebook: cells?notebook=path/to/notebook.ipynb")
        names = self.notebook_names(notebook)

        def cells() -> dict[str, Any]:
            df = nbtrack.cells(names, workspace=self.workspace())
            return {"notebook": notebook, "cells": serialize.records(df)}

        self.reply(await self.call(cells))


class DiffHandler(NbtrackHandler):
    @web.authenticated
    async def get(self) -> None:
        a, b = self.get_argument("a", ""), self.get_argument("b", "")
        if not a or not b:
            raise InvalidInput("give two runs: diff?a=RUN&b=RUN")

        def diff() -> dict[str, Any]:
            return serialize.comparison(nbtrack.compare_runs(a, b, workspace=self.workspace()))

        self.reply(await self.call(diff))


INLINE_IMAGES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})


class ArtifactHandler(NbtrackHandler):
    @web.authenticated
    async def get(self, run_id: str, name: str) -> None:
        def artifact() -> tuple[bytes, str]:
            run = nbtrack.get_run(run_id, workspace=self.workspace())
            data = run.artifact(name)  # looked up by name among the run's artifacts; never a path
            media = next((a.get("media_type") for a in run.artifacts if a["name"] == name), None)
            return data, media or "application/octet-stream"

        data, media = await self.call(artifact)
        self.set_header("X-Content-Type-Options", "nosniff")
        media = media.split(";", 1)[0].strip().lower()
        if media not in INLINE_IMAGES:  # never anything a browser would run (SVG, HTML) or guess
            media = "application/octet-stream"
            self.set_header("Content-Disposition", "attachment")
        self.set_header("Cache-Control", "private, max-age=31536000, immutable")
        self.finish(data, set_content_type=media)  # APIHandler.finish would say application/json


class ModelsHandler(NbtrackHandler):
    @web.authenticated
    async def get(self) -> None:
        def models() -> dict[str, Any]:
            return {"models": serialize.jsonable(nbtrack.models(workspace=self.workspace()))}

        self.reply(await self.call(models))


class ModelHandler(NbtrackHandler):
    @web.authenticated
    async def get(self, name: str) -> None:
        def model() -> dict[str, Any]:
            ws = self.workspace()
            found = nbtrack.get_model(name, workspace=ws)
            versions = serialize.jsonable(nbtrack.model_versions(name, workspace=ws))
            served = serialize.jsonable(nbtrack.served(name, workspace=ws))  # servers and their traffic
            watched = serialize.jsonable(nbtrack.monitoring(name, workspace=ws))  # alert rules, last checks
            return {"name": found.name, "versions": versions, "aliases": found.alias_labels, "served": served,
                    "monitoring": watched}

        self.reply(await self.call(model))


class AliasesHandler(BodyHandler):
    @web.authenticated
    async def post(self, name: str) -> None:
        body = self.body()
        action = body.get("action", "set")
        alias = body.get("alias")
        if not isinstance(alias, str) or not alias:
            raise InvalidInput('give the alias: {"action": "set|promote|rollback", "alias": "production", ...}')
        version: Any = body.get("version")  # checked below (not for a rollback)
        gate, reason = body.get("gate"), body.get("reason")
        if action != "rollback" and (isinstance(version, bool) or not isinstance(version, (int, str))):
            raise InvalidInput(f'"version" must be a version number or an alias, got {json.dumps(version)}')

        def change() -> Any:
            ws = self.workspace()
            if action == "set":
                return nbtrack.set_alias(name, alias, version, workspace=ws, reason=reason)
            if action == "promote":
                return nbtrack.promote(name, version, to=alias, gate=gate, workspace=ws, reason=reason,
                                       raise_on_refusal=False)
            if action == "rollback":
                return nbtrack.rollback(name, alias, workspace=ws, reason=reason)
            raise InvalidInput(f"action must be set, promote or rollback, got {action!r}")

        result = await self.call(change)
        self.reply({"name": name, "alias": alias, "action": action, "result": serialize.jsonable(result)})


class ApprovalsHandler(BodyHandler):
    @web.authenticated
    async def post(self) -> None:
        body = self.body()
        notebook = body.get("notebook")
        if not isinstance(notebook, str) or not notebook:
            raise InvalidInput('give the notebook: {"notebook": "path/to/nb.ipynb", "reason": "..."}')
        path = self.notebook_names(notebook)[0]

        def approve() -> Any:
            if not os.path.isfile(path):
                raise NotFound(f"no notebook {notebook!r} under the server's root directory")
            ws = get_workspace(create=False, start=os.path.dirname(path))
            name = body.get("name") or os.path.splitext(os.path.basename(path))[0]
            return nbtrack.approve(path, name, workspace=ws, reason=body.get("reason"))

        result = await self.call(approve)
        self.reply({"notebook": notebook, "result": serialize.jsonable(result)}, status=201)


class DatasetsHandler(NbtrackHandler):
    @web.authenticated
    async def get(self) -> None:
        def datasets() -> dict[str, Any]:
            return {"datasets": serialize.jsonable(nbtrack.datasets(workspace=self.workspace()))}

        self.reply(await self.call(datasets))


class EventsHandler(NbtrackHandler):
    @web.authenticated
    async def get(self) -> None:
        limit = self.int_arg("limit", 100, lo=1, hi=PAGE_MAX)

        def events() -> dict[str, Any]:
            newest = nbtrack.events(limit=limit, workspace=self.workspace())  # the newest `limit`, oldest first
            return {"events": serialize.jsonable(newest)[::-1]}

        self.reply(await self.call(events))


ROUTES: list[tuple[str, type[NbtrackHandler]]] = [
    ("info", InfoHandler),
    ("runs", RunsHandler),
    (f"runs/{ID}", RunHandler),
    (f"runs/{ID}/source", SourceHandler),
    ("cells", CellsHandler),
    ("diff", DiffHandler),
    (f"artifacts/{ID}/(.+)", ArtifactHandler),
    ("models", ModelsHandler),
    (f"models/{ID}", ModelHandler),
    (f"models/{ID}/aliases", AliasesHandler),
    ("approvals", ApprovalsHandler),
    ("datasets", DatasetsHandler),
    ("events", EventsHandler),
]


def setup_handlers(web_app) -> None:
    base = url_path_join(web_app.settings["base_url"], "nbtrack", "api")
    web_app.add_handlers(".*$", [(url_path_join(base, pattern) + "/?$", h) for pattern, h in ROUTES])
