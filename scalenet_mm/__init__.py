"""scalenet_mm: ScaleNet (shared-weight depth scaling with per-instance adapters) for
MMPretrain and MMDetection.

Importing the package only ADDS names: it registers every module it defines (backbones,
neck, optimizer constructor and wrapper, hooks, transforms) under its own name into the
registries of mmpretrain, mmdet and mmengine, plus the ``scalenet_mm::`` config package and
the ``scalenet-zoo://`` scheme. It replaces no framework object, so configs only need
``custom_imports=dict(imports=['scalenet_mm'], allow_failed_imports=False)``.

The project's fixes to the stack (atomic local writes, resume of the Runner's own
checkpoints on torch >= 2.6, verified downloads) are switched on explicitly with
:func:`scalenet_mm.runtime.install` (``tools/train.py`` and ``tools/test.py`` do) or the
config import ``'scalenet_mm.runtime.enable'``; see docs/stack_fixes.md.
"""
import os as _os

from .version import __version__
from .dependencies import SKIP_VARIABLE as _SKIP_VARIABLE
from .dependencies import check_dependencies as _check_dependencies

if not _os.environ.get(_SKIP_VARIABLE):
    _check_dependencies()  # before anything imports mmengine/mmpretrain/mmdet (see its docstring)

from . import registry  # noqa: F401,E402  (scalenet_mm:: configs; register helpers)
from . import models  # noqa: F401,E402  (registers the modules)
from . import checkpoint  # noqa: F401,E402  (ModelHub names, scalenet-zoo://)
from . import engine  # noqa: F401,E402  (optimizer constructor and wrapper, hooks)
from . import datasets  # noqa: F401,E402  (CheckedLoadImageFromFile)
from . import runtime  # noqa: F401,E402  (install(): the opt-in fixes; no side effects)

__all__ = ['__version__']
