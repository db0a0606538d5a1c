"""One place that registers the project's modules into every OpenMMLab registry that builds them.

Importing this module (``import scalenet_mm`` does) only ADDS names; it never replaces an
entry that a framework registry already holds:

* a ScaleNet backbone is built by mmpretrain configs (``default_scope='mmpretrain'``) and by
  mmdet configs (``default_scope='mmdet'``); each looks only in its own registry tree, so
  every model, optimizer constructor, hook and transform of this project is registered into
  both, under its own class name (``SafeCheckpointHook``, ``CheckedLoadImageFromFile``, ...).
  Models, hooks, transforms and optimizer wrappers also go into mmengine's root registries,
  so they build when the current scope is plain ``'mmengine'`` (a Runner built without
  ``default_scope``). A name that already exists with another object raises ``KeyError``
  naming both (our classes never take over a framework name);
* :func:`register_config_package` makes ``_base_ = 'scalenet_mm::...'`` configs resolve (see
  its docstring). It adds the key ``'scalenet_mm'`` to mmengine's ``MODULE2PACKAGE`` and a
  ``scalenet_mm`` child to mmengine's root registries: both are new entries, so nothing a
  framework already had changes. They are here, and nowhere else, on purpose.

The fixes this project makes to the stack (atomic writes for every local file, the scoped
resume loader, verified downloads) are not switched on here: see
:func:`scalenet_mm.runtime.install`.
"""
import importlib
from typing import Any, Callable, List, Optional, Type, TypeVar

from mmdet.registry import HOOKS as DET_HOOKS
from mmdet.registry import MODELS as DET_MODELS
from mmdet.registry import OPTIM_WRAPPER_CONSTRUCTORS as DET_OPTIM_WRAPPER_CONSTRUCTORS
from mmdet.registry import OPTIM_WRAPPERS as DET_OPTIM_WRAPPERS
from mmdet.registry import TRANSFORMS as DET_TRANSFORMS
from mmengine.config.utils import MODULE2PACKAGE
from mmengine.registry import HOOKS as MMENGINE_HOOKS
from mmengine.registry import MODELS as MMENGINE_MODELS
from mmengine.registry import OPTIM_WRAPPERS as MMENGINE_OPTIM_WRAPPERS
from mmengine.registry import TRANSFORMS as MMENGINE_TRANSFORMS
from mmengine.registry import Registry
from mmpretrain.registry import HOOKS as PRETRAIN_HOOKS
from mmpretrain.registry import MODELS as PRETRAIN_MODELS
from mmpretrain.registry import \
    OPTIM_WRAPPER_CONSTRUCTORS as PRETRAIN_OPTIM_WRAPPER_CONSTRUCTORS
from mmpretrain.registry import OPTIM_WRAPPERS as PRETRAIN_OPTIM_WRAPPERS
from mmpretrain.registry import TRANSFORMS as PRETRAIN_TRANSFORMS

from .private_api import default_scope_names

T = TypeVar('T', bound=Type)

#: The package name: the ``scalenet_mm::`` config prefix and the scope of its registries.
PACKAGE = 'scalenet_mm'
#: Scopes tried, in order, when a ``scalenet_mm``-scoped build runs with no enclosing scope.
FALLBACK_SCOPES = ('mmpretrain', 'mmdet')


def _same_class(a: Any, b: Any) -> bool:
    """Whether ``a`` and ``b`` are the same class, or one class re-created by a re-import."""
    return a is b or (getattr(a, '__module__', None) == getattr(b, '__module__', object())
                      and getattr(a, '__qualname__', None) == getattr(b, '__qualname__', None))


def add_module(registry: Registry, module: Type, name: Optional[str] = None) -> None:
    """Register ``module`` in ``registry`` under ``name`` (default: its class name), adding only.

    Registering the same class again (a re-import of this package) is a no-op; a name that
    the registry already holds for another object raises instead of replacing it.

    Raises:
        KeyError: ``name`` is taken in ``registry`` by a different object.
    """
    name = name or module.__name__
    existing = registry.module_dict.get(name)
    if existing is not None and not _same_class(existing, module):
        raise KeyError(
            f'{name!r} is already registered in {registry.scope}::{registry.name} as '
            f'{existing.__module__}.{existing.__qualname__}; scalenet_mm does not replace '
            f'framework names. Rename {module.__module__}.{module.__qualname__}.')
    if existing is module:
        return
    # force only ever replaces our own class re-created by a re-import (checked above).
    registry.register_module(name=name, module=module, force=existing is not None)


def _register_everywhere(*registries: Registry) -> Callable[[T], T]:
    def decorator(cls: T) -> T:
        for registry in registries:
            add_module(registry, cls)
        return cls

    return decorator


#: Register a model class (backbone, neck, ...) in mmpretrain's, mmdet's and mmengine's ``MODELS``.
register_model = _register_everywhere(PRETRAIN_MODELS, DET_MODELS, MMENGINE_MODELS)
#: Register an optimizer-wrapper constructor in both ``OPTIM_WRAPPER_CONSTRUCTORS``.
register_optim_constructor = _register_everywhere(PRETRAIN_OPTIM_WRAPPER_CONSTRUCTORS,
                                                  DET_OPTIM_WRAPPER_CONSTRUCTORS)
#: Register an optimizer wrapper in mmpretrain's, mmdet's and mmengine's ``OPTIM_WRAPPERS``.
register_optim_wrapper = _register_everywhere(PRETRAIN_OPTIM_WRAPPERS, DET_OPTIM_WRAPPERS,
                                              MMENGINE_OPTIM_WRAPPERS)
#: Register a hook in mmpretrain's, mmdet's and mmengine's ``HOOKS``.
register_hook = _register_everywhere(PRETRAIN_HOOKS, DET_HOOKS, MMENGINE_HOOKS)
#: Register a data transform in mmpretrain's, mmdet's and mmengine's (mmcv's) ``TRANSFORMS``.
register_transform = _register_everywhere(PRETRAIN_TRANSFORMS, DET_TRANSFORMS,
                                          MMENGINE_TRANSFORMS)


# ----------------------------------------------------------------- scalenet_mm:: configs
def _enclosing_scope() -> Optional[str]:
    """The default scope the current build runs in, ignoring the temporary ``scalenet_mm``
    scope mmengine switches to for a ``_scope_='scalenet_mm'`` dict."""
    for name in reversed(default_scope_names()):
        if name != PACKAGE:
            return name
    return None


class EnclosingScopeRegistry(Registry):
    """The ``scalenet_mm`` scope of one mmengine registry tree.

    It holds no modules of its own: ``get`` looks the name up in the registry of the
    enclosing default scope (see :func:`_enclosing_scope`), falling back to mmpretrain's and
    then mmdet's registry when a build runs without a default scope.
    """

    def _targets(self) -> List[Registry]:
        root = self.root
        scope = _enclosing_scope()
        names = [scope] if scope else list(FALLBACK_SCOPES)
        targets = []
        for name in names:
            registry = root.children.get(name)
            if registry is not None and registry is not self:
                targets.append(registry)
        return targets or [root]

    def get(self, key: str) -> Optional[Any]:
        for registry in self._targets():
            obj = registry.get(key)
            if obj is not None:
                return obj
        return None


def _add_scope_registries() -> None:
    """Add the ``scalenet_mm`` child to every root registry (mmengine's, and the few that
    mmpretrain and mmdet keep outside mmengine's trees, e.g. mmpretrain's batch augments)."""
    import mmengine.registry as mm_registry
    modules = [mm_registry]
    for name in ('mmpretrain.registry', 'mmdet.registry'):
        modules.append(importlib.import_module(name))
    for module in modules:
        for value in vars(module).values():
            if isinstance(value, Registry) and value.parent is None \
                    and PACKAGE not in value.children and value.scope != PACKAGE:
                EnclosingScopeRegistry(value.name, parent=value, scope=PACKAGE)


def register_config_package() -> None:
    """Make ``_base_ = 'scalenet_mm::cls/scalenet_t2x_in1k.py'`` work in configs outside the repo.

    mmengine 0.10.7 resolves ``<package>::<path>`` base configs from
    ``mmengine.utils.get_installed_path(package)/.mim/configs`` (``setup.py`` puts the configs
    there; the development install, ``pip install --no-use-pep517 -e .``, links the source
    tree, so mmengine's own lookup finds them). Two additive entries are needed:

    1. ``_get_package_and_cfg_path`` asserts that the package is a key of mmengine's
       ``MODULE2PACKAGE``, which lists OpenMMLab's own packages only: the key
       ``'scalenet_mm'`` is added (existing keys are untouched).
    2. mmengine marks every ``type=...`` dict of a ``scalenet_mm::`` base with
       ``_scope_='scalenet_mm'`` and builds it in the registry of that scope; this project
       registers into mmpretrain's and mmdet's registries and has no tree of its own, so a
       ``scalenet_mm`` child (:class:`EnclosingScopeRegistry`) is added to each root
       registry. It resolves names in the registry of the scope the build runs in (the
       config's ``default_scope``), so a base config builds exactly as when loaded by path.

    Base configs are parsed before a config's ``custom_imports`` run, so ``scalenet_mm`` must
    be imported before ``Config.fromfile`` (the project's tools do; in your own script,
    ``import scalenet_mm`` first). Idempotent.
    """
    MODULE2PACKAGE.setdefault(PACKAGE, PACKAGE)
    _add_scope_registries()


register_config_package()
