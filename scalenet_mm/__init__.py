"""scalenet_mm: ScaleNet (shared-weight depth scaling with per-instance adapters) for
MMPretrain and MMDetection.

Importing the package registers every module it defines into the registries of both
mmpretrain and mmdet, so configs only need
``custom_imports=dict(imports=['scalenet_mm'], allow_failed_imports=False)``.
"""
import os as _os

from .version import __version__
from .dependencies import SKIP_VARIABLE as _SKIP_VARIABLE
from .dependencies import check_dependencies as _check_dependencies

if not _os.environ.get(_SKIP_VARIABLE):
    _check_dependencies()  # before anything imports mmengine/mmpretrain/mmdet (see its docstring)

from . import models  # noqa: F401,E402  (registers the modules)
from . import checkpoint  # noqa: F401,E402  (verified downloads, ModelHub names, scalenet_mm::)
from . import engine  # noqa: F401,E402  (registers the optimizer constructors)
from . import runtime  # noqa: F401,E402  (trusted local checkpoint loader for resume)

__all__ = ['__version__']
