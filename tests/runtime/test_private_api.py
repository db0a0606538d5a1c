"""Every private mmengine/mmpretrain attribute the project reads (``scalenet_mm.private_api``)
still exists with the shape the project relies on. A failure here means upstream changed it:
update :mod:`scalenet_mm.private_api` (and only it)."""
import torch
from mmengine.registry import DefaultScope
from mmengine.runner.checkpoint import CheckpointLoader, load_from_local

import scalenet_mm  # noqa: F401
from scalenet_mm import private_api


def test_default_scope_names_lists_enclosing_scopes_oldest_first() -> None:
    with DefaultScope.overwrite_default_scope('mmdet'):
        with DefaultScope.overwrite_default_scope('scalenet_mm'):
            names = private_api.default_scope_names()
    assert names[-2:] == ['mmdet', 'scalenet_mm']


def test_checkpoint_schemes_is_the_live_table() -> None:
    schemes = private_api.checkpoint_schemes()
    assert schemes is CheckpointLoader._schemes
    assert schemes[''] is load_from_local
    assert CheckpointLoader._get_checkpoint_loader('https://x/y.pth') is schemes['https://']
    assert schemes['scalenet-zoo://'].__name__ == 'load_from_zoo'


def test_mmengine_home_and_mmcls_key_cleanup() -> None:
    assert isinstance(private_api.mmengine_home(), str)
    ckpt = {'state_dict': {'backbone.w': torch.ones(1), 'head.fc.b': torch.zeros(1)}}
    out = private_api.process_mmcls_checkpoint(ckpt)
    assert set(out['state_dict']) == {'w'}  # backbone. stripped, the head dropped


def test_modelhub_models_is_a_dict_of_registered_entries() -> None:
    models = private_api.modelhub_models()
    assert isinstance(models, dict)
    assert 'deit-tiny_official_in1k' in models
    assert models['deit-tiny_official_in1k'].weights == 'scalenet-zoo://deit-tiny_official_in1k'
