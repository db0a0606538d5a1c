"""Make ``scalenet_mm.method`` importable where OpenMMLab is not installed.

The method layer needs torch and timm only, but ``import scalenet_mm.method`` first runs
``scalenet_mm/__init__.py``, which registers the plugin with mmengine, mmpretrain and mmdet
(configs rely on ``custom_imports=['scalenet_mm']`` doing that, so it stays eager). Importing
this helper before ``from scalenet_mm.method import ...``:

* with OpenMMLab installed, imports the package normally (nothing special happens);
* without it (the torch-only job:
  ``python -m pytest --noconftest -p no:cacheprovider tests/method``), loads the folder
  ``scalenet_mm/method`` as the package ``scalenet_mm.method`` without executing the parent's
  ``__init__``. Python imports only the *missing* parents of a dotted name, and
  ``scalenet_mm.method`` is then present, so the tests' ordinary imports and the method's own
  relative imports resolve to it.

Nothing here changes how users import the package.
"""
import importlib
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

METHOD_DIR = Path(__file__).resolve().parents[2] / 'scalenet_mm' / 'method'
NAME = 'scalenet_mm.method'


def load_method() -> ModuleType:
    """Return ``scalenet_mm.method``, imported normally or, without OpenMMLab, standalone."""
    if NAME in sys.modules:
        return sys.modules[NAME]
    try:
        return importlib.import_module(NAME)
    except ImportError as plugin_error:  # the plugin's OpenMMLab glue cannot be imported here
        if NAME in sys.modules:  # the parent failed after the method itself had loaded
            return sys.modules[NAME]
        spec = importlib.util.spec_from_file_location(
            NAME, METHOD_DIR / '__init__.py', submodule_search_locations=[str(METHOD_DIR)])
        if spec is None or spec.loader is None:
            raise ImportError(f'cannot load the method package from {METHOD_DIR}') from plugin_error
        module = importlib.util.module_from_spec(spec)
        sys.modules[NAME] = module
        try:
            spec.loader.exec_module(module)
        except BaseException:
            for key in [k for k in sys.modules if k == NAME or k.startswith(NAME + '.')]:
                del sys.modules[key]
            raise
        return module


method = load_method()
