"""The package imports and its backbone is registered in, and builds through, both
mmpretrain's and mmdet's model registries."""
import pytest
import torch
from mmdet.registry import MODELS as DET_MODELS
from mmengine.registry import init_default_scope
from mmpretrain.registry import MODELS as PRETRAIN_MODELS

import scalenet_mm
from scalenet_mm.models import ScaleNetViT

TINY = dict(type='ScaleNetViT',
            arch=dict(embed_dims=32, num_layers=2, num_heads=2, feedforward_channels=64),
            depth=4, img_size=32, patch_size=8)


def test_package_imports_with_version() -> None:
    assert isinstance(scalenet_mm.__version__, str) and scalenet_mm.__version__


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
