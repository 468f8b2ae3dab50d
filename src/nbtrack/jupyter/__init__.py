"""Jupyter server extension: the REST routes behind the JupyterLab "Versions" sidebar.

Enabled automatically by ``etc/jupyter/jupyter_server_config.d/nbtrack.json``
(shipped in the wheel); the prebuilt sidebar lives in ``share/jupyter/labextensions``.
"""

from __future__ import annotations


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    return [{"module": "nbtrack.jupyter"}]


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    # for `jupyter-builder develop`: the bundle is built into src/nbtrack/labextension
    return [{"src": "../labextension", "dest": "nbtrack-labextension"}]


def _load_jupyter_server_extension(server_app) -> None:
    """Register the handlers (called by jupyter_server at startup)."""
    from .handlers import setup_handlers

    setup_handlers(server_app.web_app)
    server_app.log.info("nbtrack: sidebar API at %snbtrack/api/", server_app.web_app.settings["base_url"])


# jupyter_server < 2 name
load_jupyter_server_extension = _load_jupyter_server_extension
