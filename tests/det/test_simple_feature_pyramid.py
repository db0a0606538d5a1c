"""SimpleFeaturePyramid and LayerNorm2d: shapes and strides of the ViTDet pyramid, the
ViTDet resampling layout, LayerNorm2d equal to a per-pixel nn.LayerNorm, clear errors, and
building both through mmdet's and mmpretrain's registries."""
import pytest
import torch
import torch.nn as nn
from mmcv.cnn import build_norm_layer
from mmdet.registry import MODELS as DET_MODELS
from mmpretrain.registry import MODELS as PRETRAIN_MODELS

import scalenet_mm  # noqa: F401
from scalenet_mm.models import LayerNorm2d, ScaleNetViT, SimpleFeaturePyramid


def test_layer_norm_2d_matches_per_pixel_layer_norm() -> None:
    torch.manual_seed(0)
    norm = LayerNorm2d(8)
    nn.init.normal_(norm.weight)
    nn.init.normal_(norm.bias)
    x = torch.randn(2, 8, 5, 7) * 3 + 1
    reference = nn.LayerNorm(8, eps=1e-6)
    reference.load_state_dict(norm.state_dict())
    expected = reference(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
    torch.testing.assert_close(norm(x), expected)
    with pytest.raises(ValueError, match='N, C, H, W'):
        norm(torch.randn(2, 8, 5))


def test_layer_norm_2d_in_both_registries_and_mmcv_builder() -> None:
    assert DET_MODELS.get('LayerNorm2d') is LayerNorm2d
    assert PRETRAIN_MODELS.get('LayerNorm2d') is LayerNorm2d
    name, layer = build_norm_layer(dict(type='LayerNorm2d'), 16)  # in mmdet's scope
    assert name == 'ln' and isinstance(layer, LayerNorm2d)


def test_pyramid_levels_and_strides() -> None:
    neck = SimpleFeaturePyramid(in_channels=32, out_channels=16, num_outs=5)
    x = torch.randn(2, 32, 6, 10)  # a stride-16 map of a 96x160 image
    outs = neck((x, ))
    assert [tuple(o.shape) for o in outs] == [(2, 16, 24, 40), (2, 16, 12, 20), (2, 16, 6, 10),
                                              (2, 16, 3, 5), (2, 16, 2, 3)]
    # ViTDet layout: 4x = deconv, norm, GELU, deconv; 2x = deconv; 1x = identity; 0.5x = pool.
    four, two, one, half = neck.stages
    assert [type(m) for m in four] == [nn.ConvTranspose2d, LayerNorm2d, nn.GELU,
                                       nn.ConvTranspose2d]
    assert four[-1].out_channels == 8 and two.out_channels == 16
    assert isinstance(one, nn.Identity) and isinstance(half, nn.MaxPool2d)
    for lateral, output in zip(neck.lateral_convs, neck.output_convs):
        assert lateral.conv.kernel_size == (1, 1) and output.conv.kernel_size == (3, 3)
        assert isinstance(lateral.norm, LayerNorm2d) and isinstance(output.norm, LayerNorm2d)
        assert lateral.conv.bias is None  # a norm follows
    # The extra level is a stride-2 subsample of the last main level.
    torch.testing.assert_close(outs[4], outs[3][:, :, ::2, ::2])
    outs[0].sum().backward()
    assert neck.stages[0][0].weight.grad is not None


def test_pyramid_on_scalenet_backbone_feeds_every_level() -> None:
    backbone = ScaleNetViT(
        arch=dict(embed_dims=32, num_layers=2, num_heads=2, feedforward_channels=64), depth=4,
        img_size=64, out_type='featmap', with_cls_token=False, final_norm=False, window_size=2,
        global_attn_indexes=(3, ), use_rel_pos=True)
    neck = SimpleFeaturePyramid(in_channels=32, out_channels=8)
    outs = neck(backbone(torch.randn(1, 3, 64, 96)))
    assert [o.shape[-2:] for o in outs] == [(16, 24), (8, 12), (4, 6), (2, 3), (1, 2)]


def test_built_from_config_and_subset_of_scales() -> None:
    neck = DET_MODELS.build(dict(type='SimpleFeaturePyramid', in_channels=32, out_channels=8,
                                 scale_factors=(2.0, 1.0), num_outs=3))
    outs = neck((torch.randn(1, 32, 4, 4), ))
    assert [o.shape[-1] for o in outs] == [8, 4, 2]


@pytest.mark.parametrize('kwargs, match', [
    (dict(scale_factors=(3.0, )), 'subset'),
    (dict(scale_factors=(1.0, 2.0)), 'ordered'),
    (dict(num_outs=2), 'num_outs'),
    (dict(in_channels=30), 'divisible by 4'),
])
def test_bad_arguments(kwargs, match) -> None:
    args = dict(in_channels=32, out_channels=8)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        SimpleFeaturePyramid(**args)


def test_bad_inputs() -> None:
    neck = SimpleFeaturePyramid(in_channels=32, out_channels=8)
    with pytest.raises(ValueError, match='exactly one'):
        neck((torch.randn(1, 32, 4, 4), torch.randn(1, 32, 4, 4)))
    with pytest.raises(ValueError, match='in_channels'):
        neck((torch.randn(1, 16, 4, 4), ))
