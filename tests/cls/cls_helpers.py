"""Helpers of the classification config tests (tests/cls/test_cls_configs.py for the ViT
configs, tests/cls/test_swin_configs.py for the Swin ones)."""
import copy
import re
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


def readme_params(readme: str) -> Dict[str, str]:
    """``{config file name: params column}`` from a configs README table (``'6.45M'``: the
    column with its space removed)."""
    with open(readme, encoding='utf-8') as f:
        text = f.read()
    rows = {}
    for line in text.splitlines():
        match = re.search(r'\]\(\./?([\w\-]+_in1k\.py)\)', line)
        if match and line.startswith('|'):
            cells = [c.strip() for c in line.strip('|').split('|')]
            params = next(c for c in cells if re.fullmatch(r'[\d.]+ ?M', c))
            rows[match.group(1)] = params.replace(' ', '')
    return rows
