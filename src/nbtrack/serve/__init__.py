"""Serving: ``nbtrack serve NAME@ALIAS`` (HTTP), batch scoring, deployment bundles.

``nbtrack.serve`` is both this package and the function
:func:`nbtrack.serve.server.serve` (a background server for a notebook);
whichever Python binds to the name first, calling it starts a server.

- :mod:`.app` the Starlette app; :mod:`.validation` rows against the signature;
  :mod:`.bodies` request bodies; :mod:`.served` the hot-swappable model table;
  :mod:`.metrics` Prometheus; :mod:`.openapi` the OpenAPI document
  (these import nothing from the workspace: bundles ship them);
- :mod:`.source` models from the registry and the alias watcher;
  :mod:`.predlog` the prediction log; :mod:`.server` running it all;
- :mod:`.batch` batch scoring of files; :mod:`.bundle` deployment bundles.
"""

import sys as _sys
import types as _types


class _CallableModule(_types.ModuleType):
    def __call__(self, *refs, **kwargs):
        from .server import serve

        return serve(*refs, **kwargs)


_sys.modules[__name__].__class__ = _CallableModule
