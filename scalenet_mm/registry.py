"""One place that registers the project's modules into every OpenMMLab registry that builds them.

A ScaleNet backbone is built by mmpretrain configs (``default_scope='mmpretrain'``) and by
mmdet configs (``default_scope='mmdet'``); each looks only in its own registry tree, so every
model, optimizer constructor and hook is registered into both. Models also go into mmengine's
root ``MODELS``, so they build when the current scope is plain ``'mmengine'`` (a Runner built
without ``default_scope``, or code that builds from the root registry). ``import scalenet_mm`` (or
``custom_imports=dict(imports=['scalenet_mm'])``) is enough to make them visible.
"""
from typing import Callable, Type, TypeVar

from mmdet.registry import HOOKS as DET_HOOKS
from mmdet.registry import MODELS as DET_MODELS
from mmdet.registry import OPTIM_WRAPPER_CONSTRUCTORS as DET_OPTIM_WRAPPER_CONSTRUCTORS
from mmengine.registry import MODELS as MMENGINE_MODELS
from mmpretrain.registry import HOOKS as PRETRAIN_HOOKS
from mmpretrain.registry import MODELS as PRETRAIN_MODELS
from mmpretrain.registry import \
    OPTIM_WRAPPER_CONSTRUCTORS as PRETRAIN_OPTIM_WRAPPER_CONSTRUCTORS

T = TypeVar('T', bound=Type)


def _register_everywhere(*registries) -> Callable[[T], T]:
    def decorator(cls: T) -> T:
        for registry in registries:
            registry.register_module(module=cls, force=True)
        return cls

    return decorator


#: Register a model class (backbone, neck, ...) in mmpretrain's, mmdet's and mmengine's ``MODELS``.
register_model = _register_everywhere(PRETRAIN_MODELS, DET_MODELS, MMENGINE_MODELS)
#: Register an optimizer-wrapper constructor in both ``OPTIM_WRAPPER_CONSTRUCTORS``.
register_optim_constructor = _register_everywhere(PRETRAIN_OPTIM_WRAPPER_CONSTRUCTORS,
                                                  DET_OPTIM_WRAPPER_CONSTRUCTORS)
#: Register a hook in mmpretrain's and mmdet's ``HOOKS``.
register_hook = _register_everywhere(PRETRAIN_HOOKS, DET_HOOKS)
