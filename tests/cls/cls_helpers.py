"""Helpers of the classification config tests (tests/cls/test_cls_configs.py for the ViT
configs, tests/cls/test_swin_configs.py for the Swin ones)."""
import copy
from typing import Dict

from mmengine.config import Config
from mmengine.registry import Registry, init_default_scope

_CACHE: Dict[str, Config] = {}


def load(path: str) -> Config:
    """``Config.fromfile(path)``, parsed once per session (resolving ``mmpretrain::`` bases
    takes seconds); every caller gets its own copy."""
    if path not in _CACHE:
        _CACHE[path] = Config.fromfile(path)
    return copy.deepcopy(_CACHE[path])


def mmpretrain_models() -> Registry:
    """mmpretrain's model registry, in mmpretrain's default scope (as its tools build)."""
    from mmpretrain.registry import MODELS
    init_default_scope('mmpretrain')
    return MODELS
