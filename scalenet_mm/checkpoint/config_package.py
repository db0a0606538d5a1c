"""Make ``_base_ = 'scalenet_mm::cls/scalenet_t2x_in1k.py'`` work in configs outside this repo.

mmengine 0.10.7 resolves ``<package>::<path>`` base configs from ``<package>/.mim/configs``
(``setup.py`` puts the configs there; editable installs link them). Three things stand in
the way for a plugin package, and importing this module (``import scalenet_mm`` does)
settles each with the smallest change available:

1. ``_get_package_and_cfg_path`` asserts that the package is in mmengine's
   ``MODULE2PACKAGE`` table, which lists OpenMMLab's own packages only. Packaging cannot
   change that table; the entry ``'scalenet_mm': 'scalenet_mm'`` is added to it.
2. ``get_installed_path`` assumes the package lives in the folder of its ``.dist-info``
   (``site-packages``). For an editable install (PEP 660, what ``pip install -e .`` does
   with current pip and setuptools) that folder has no ``scalenet_mm`` and the lookup
   fails (a known mmengine limitation). For ``scalenet_mm`` only, and only when mmengine's
   answer does not exist, the package's real folder is returned instead; every other
   package gets mmengine's answer unchanged. Regular (non-editable) installs never need it.
3. mmengine marks every ``type=...`` dict of a ``scalenet_mm::`` base with
   ``_scope_='scalenet_mm'``, and builds it in the registry of that scope. This project
   registers its modules into mmpretrain's and mmdet's registries and has no registry tree
   of its own, so the Runner (which builds from mmengine's root registries) would fail with
   ``ImageClassifier is not in the mmengine::model registry``. A ``scalenet_mm`` child is
   therefore added to each of mmengine's root registries; it resolves names in the registry
   of the scope the build runs in (the config's ``default_scope``: mmpretrain for the
   classification configs, mmdet for the detection ones), so a base config builds exactly
   as it does when loaded by path.

Base configs are parsed before a config's ``custom_imports`` run, so ``scalenet_mm`` must be
imported before ``Config.fromfile`` (the project's tools do it; in your own script, ``import
scalenet_mm`` first).
"""
import importlib
import os.path as osp
from typing import Any, Callable, List, Optional

import mmengine.registry as mm_registry
from mmengine.config import config as mm_config
from mmengine.config.utils import MODULE2PACKAGE
from mmengine.registry import DefaultScope, Registry

PACKAGE = 'scalenet_mm'
_PACKAGE_DIR = osp.dirname(osp.dirname(osp.abspath(__file__)))
#: Scopes tried, in order, when a build runs with no enclosing default scope.
FALLBACK_SCOPES = ('mmpretrain', 'mmdet')


def _enclosing_scope() -> Optional[str]:
    """The default scope the current build runs in, ignoring the temporary ``scalenet_mm``
    scope mmengine switches to for a ``_scope_='scalenet_mm'`` dict."""
    for instance in reversed(list(DefaultScope._instance_dict.values())):
        if instance.scope_name != PACKAGE:
            return instance.scope_name
    return None


class EnclosingScopeRegistry(Registry):
    """The ``scalenet_mm`` scope of one mmengine registry tree.

    It holds no modules of its own: ``get`` looks the name up in the registry of the
    enclosing default scope (see :func:`_enclosing_scope`), falling back to mmpretrain's and
    then mmdet's registry when a build runs without a default scope.
    """

    def _targets(self) -> List[Registry]:
        root = self._get_root_registry()
        scope = _enclosing_scope()
        names = [scope] if scope else list(FALLBACK_SCOPES)
        targets = []
        for name in names:
            registry = root._search_child(name)
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
    modules = [mm_registry]
    for name in ('mmpretrain.registry', 'mmdet.registry'):
        try:
            modules.append(importlib.import_module(name))
        except ImportError:  # pragma: no cover - both are dependencies
            pass
    for module in modules:
        for value in vars(module).values():
            if isinstance(value, Registry) and value.parent is None \
                    and PACKAGE not in value._children and value.scope != PACKAGE:
                EnclosingScopeRegistry(value.name, parent=value, scope=PACKAGE)


def _with_editable_fallback(original: Callable[[str], str]) -> Callable[[str], str]:
    if getattr(original, '_scalenet_mm_fallback', False):
        return original

    def get_installed_path(package: str) -> str:
        path = original(package)
        if package == PACKAGE and not osp.isdir(path):
            return _PACKAGE_DIR
        return path

    get_installed_path._scalenet_mm_fallback = True  # type: ignore[attr-defined]
    get_installed_path.__doc__ = original.__doc__
    return get_installed_path


def register_config_package() -> None:
    """Apply the three settings of the module docstring (idempotent)."""
    MODULE2PACKAGE.setdefault(PACKAGE, PACKAGE)
    mm_config.get_installed_path = _with_editable_fallback(mm_config.get_installed_path)
    _add_scope_registries()


register_config_package()
