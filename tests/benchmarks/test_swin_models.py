"""The Swin benchmark row's model factories (benchmarks/harness/swin_models.py): every model is
built to the shape asked for (per-stage depths, widths, pooled linear head), the exported
plain Swin computes the merged ScaleNet's function, and the unique-parameter counts of the
full-size Swin-T 2x row are what the row is about (ScaleNet about half of the plain Swin of
the same depths; mmpretrain and timm equal)."""
import pytest
import torch

from benchmarks.harness.swin_models import (MODEL_NAMES, SwinClassifier, build_swin_models,
                                            num_features, parse_arch, scaled_depths)
from scalenet_mm.models.backbones import ScaleNetSwin
from scalenet_mm.utils.complexity import count_unique_parameters

ARCH = dict(embed_dims=16, depths=[2, 2, 2, 2], num_heads=[1, 2, 2, 4])
GEOMETRY = dict(img_size=64, patch_size=2, window_size=4)
CLASSES = 7


def _blocks_per_stage(model: SwinClassifier) -> list:
    backbone = model.backbone
    stages = getattr(backbone, 'stages', None) or getattr(backbone, 'layers')
    result = []
    for stage in stages:
        if hasattr(stage, 'instances'):
            result.append(len(stage.instances))
        else:
            result.append(len(stage.blocks))
    return result


@pytest.fixture(scope='module')
def tiny_models() -> dict:
    return build_swin_models(MODEL_NAMES, ARCH, 2.0, GEOMETRY['img_size'], num_classes=CLASSES,
                             patch_size=GEOMETRY['patch_size'],
                             window_size=GEOMETRY['window_size'])


def test_every_model_has_the_asked_shape(tiny_models) -> None:
    assert list(tiny_models) == list(MODEL_NAMES)
    assert isinstance(tiny_models['scalenet'].backbone, ScaleNetSwin)
    expected = dict(scalenet=[4, 4, 4, 4], mmpretrain=[4, 4, 4, 4], timm=[4, 4, 4, 4],
                    pretrained=[2, 2, 2, 2], exported=[4, 4, 4, 4])
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    for name, model in tiny_models.items():
        assert _blocks_per_stage(model) == expected[name], name
        assert model.head.in_features == num_features(ARCH) == 128
        model.eval()
        with torch.no_grad():
            assert model(x).shape == (2, CLASSES), name


def test_exported_equals_the_merged_scalenet_and_adapters_are_not_trivial(tiny_models) -> None:
    scalenet, exported = tiny_models['scalenet'].eval(), tiny_models['exported'].eval()
    lora_b = [p for n, p in scalenet.named_parameters() if n.endswith('lora_B')]
    assert lora_b and all(torch.count_nonzero(p) > 0 for p in lora_b)
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        merged = scalenet(x)
        assert (merged - exported(x)).abs().max() < 3e-5
        # the adapters change the function (so the equality above is not trivially true)
        saved = [p.clone() for p in lora_b]
        for p in lora_b:
            p.zero_()
        scalenet.train().eval()  # drop the merged-weight cache
        unadapted = scalenet(x)
        for p, value in zip(lora_b, saved):
            p.copy_(value)
        scalenet.train().eval()
    assert (merged - unadapted).abs().max() > 1e-6


def test_swin_t_2x_row_unique_params_about_half_of_the_plain_swin() -> None:
    models = build_swin_models(('scalenet', 'mmpretrain', 'timm', 'pretrained'), 'tiny', 2.0,
                               224, num_classes=1000)
    counts = {name: count_unique_parameters(m)['total'] for name, m in models.items()}
    assert _blocks_per_stage(models['mmpretrain']) == [4, 4, 12, 4]
    assert _blocks_per_stage(models['timm']) == [4, 4, 12, 4]
    assert counts['timm'] == counts['mmpretrain']  # one architecture, two implementations
    ratio = counts['scalenet'] / counts['mmpretrain']
    assert 0.5 < ratio < 0.6, counts  # shared blocks once, plus LoRA and the stem / merging
    # ScaleNet = the pretrained Swin-T + rank-10 LoRA of its 24 instances (and the same head)
    lora = sum(p.numel() for n, p in models['scalenet'].named_parameters() if 'lora' in n)
    assert counts['scalenet'] == counts['pretrained'] + lora


def test_bad_arch_and_depth_are_refused() -> None:
    assert scaled_depths('tiny', 2.0) == [4, 4, 12, 4]
    assert scaled_depths(ARCH, [2, 4, 2, 6]) == [2, 4, 2, 6]
    with pytest.raises(ValueError, match='whole number'):
        scaled_depths('tiny', 1.25)
    with pytest.raises(ValueError, match='not valid JSON'):
        parse_arch('{"embed_dims": 96,')
    with pytest.raises(ValueError, match='unknown'):
        parse_arch('huge')
    with pytest.raises(ValueError, match='unknown models'):
        build_swin_models(['resnet'], ARCH, 2.0, 64)
