"""The package registers its modules under their own names in mmpretrain's, mmdet's and
mmengine's registries (building through each), and refuses to take over a name that a
registry already holds for another object."""
import pytest
import torch
from mmdet.registry import MODELS as DET_MODELS
from mmengine.registry import init_default_scope
from mmpretrain.registry import MODELS as PRETRAIN_MODELS

import scalenet_mm  # noqa: F401
from scalenet_mm.models import ScaleNetViT

TINY = dict(type='ScaleNetViT',
            arch=dict(embed_dims=32, num_layers=2, num_heads=2, feedforward_channels=64),
            depth=4, img_size=32, patch_size=8)


def test_registration_never_replaces_a_framework_name() -> None:
    """add_module is what every register_* decorator uses: same class again is a no-op, a
    taken name raises naming both, and the registry entry stays the framework's."""
    from mmengine.registry import Registry

    from scalenet_mm.registry import add_module
    registry = Registry('test_registry', scope='test_registry')

    class FrameworkThing:
        pass

    class LoadImageFromFile:  # same name as the framework's, another class
        pass

    registry.register_module(name='LoadImageFromFile', module=FrameworkThing)
    with pytest.raises(KeyError, match=r"'LoadImageFromFile' is already registered.*"
                                       r"FrameworkThing.*does not replace"):
        add_module(registry, LoadImageFromFile)
    assert registry.get('LoadImageFromFile') is FrameworkThing
    add_module(registry, ScaleNetViT)
    add_module(registry, ScaleNetViT)  # a re-import: no error, same entry
    assert registry.get('ScaleNetViT') is ScaleNetViT


def test_own_names_are_in_every_codebase() -> None:
    from mmdet.registry import HOOKS as DET_HOOKS, TRANSFORMS as DET_TRANSFORMS
    from mmengine.registry import HOOKS, OPTIM_WRAPPERS
    from mmpretrain.registry import HOOKS as PRE_HOOKS, TRANSFORMS as PRE_TRANSFORMS

    from scalenet_mm.datasets import CheckedLoadImageFromFile
    from scalenet_mm.engine import AutocastOptimWrapper
    from scalenet_mm.engine.hooks import NonFiniteLossHook, SafeCheckpointHook
    for registry in (HOOKS, PRE_HOOKS, DET_HOOKS):
        assert registry.module_dict['SafeCheckpointHook'] is SafeCheckpointHook
        assert registry.module_dict['NonFiniteLossHook'] is NonFiniteLossHook
    for registry in (PRE_TRANSFORMS, DET_TRANSFORMS):
        assert registry.module_dict['CheckedLoadImageFromFile'] is CheckedLoadImageFromFile
    assert OPTIM_WRAPPERS.module_dict['AutocastOptimWrapper'] is AutocastOptimWrapper


@pytest.mark.parametrize('registry', [PRETRAIN_MODELS, DET_MODELS], ids=['mmpretrain', 'mmdet'])
def test_backbone_registered_and_builds(registry) -> None:
    assert registry.get('ScaleNetViT') is ScaleNetViT
    backbone = registry.build(dict(TINY))
    assert isinstance(backbone, ScaleNetViT)
    assert len(backbone.layers) == 2 and len(backbone.instances) == 4
    out = backbone(torch.rand(1, 3, 32, 32))
    assert out[-1].shape == (1, 32)  # class token of the last instance


def test_classifier_builds_in_mmpretrain_scope() -> None:
    init_default_scope('mmpretrain')
    model = PRETRAIN_MODELS.build(dict(
        type='ImageClassifier', backbone=dict(TINY),
        head=dict(type='LinearClsHead', num_classes=3, in_channels=32)))
    scores = model(torch.rand(2, 3, 32, 32), mode='tensor')
    assert scores.shape == (2, 3)


def test_backbone_builds_when_the_current_scope_is_plain_mmengine() -> None:
    """A Runner without default_scope leaves 'mmengine' as the scope; our models still build."""
    from mmengine.registry import DefaultScope
    with DefaultScope.overwrite_default_scope('mmengine'):
        for registry in (PRETRAIN_MODELS, DET_MODELS):
            assert isinstance(registry.build(dict(TINY)), ScaleNetViT)
