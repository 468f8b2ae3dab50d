"""Values -> content-addressed objects: frames (datasets), models, figures.

``nbtrack.snapshot`` is both this package and the public function
:func:`nbtrack.snapshot.api.snapshot`; whichever Python binds to the name
``nbtrack.snapshot`` first, calling it snapshots (the package is callable).
"""

import sys as _sys
import types as _types


class _CallableModule(_types.ModuleType):
    def __call__(self, obj, name, *args, **kwargs):
        from .api import snapshot

        return snapshot(obj, name, *args, **kwargs)


_sys.modules[__name__].__class__ = _CallableModule
