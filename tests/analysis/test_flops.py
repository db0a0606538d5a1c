"""FLOPs count every use of a shared block: a 2x ScaleNet costs what a plain ViT of the same
depth costs (compared with mmengine's own counter on mmpretrain's ViT), about twice the
pretrained L-layer model, and one figure per layer instance; on a plain ViT,
tools/analysis/get_flops.py agrees with mmpretrain's get_flops.py up to the attention term."""
import runpy
import sys
from pathlib import Path

import mmpretrain
import pytest
import torch
from mmengine.analysis import get_model_complexity_info
from mmengine.config import Config
from mmpretrain.models.backbones import VisionTransformer

import scalenet_mm  # noqa: F401
from scalenet_mm.utils.complexity import (count_flops, lora_merge_flops, per_call_flops,
                                        scalenet_instance_flops)
from scalenet_mm.models import ScaleNetViT

ARCH = dict(embed_dims=32, num_layers=3, num_heads=2, feedforward_channels=64)
IMG = 32
PATCH = 8
TOKENS = (IMG // PATCH) ** 2 + 1


def plain(num_layers: int) -> VisionTransformer:
    model = VisionTransformer(arch=dict(ARCH, num_layers=num_layers), img_size=IMG,
                              patch_size=PATCH)
    model.eval()
    return model


def scalenet(depth: int) -> ScaleNetViT:
    model = ScaleNetViT(arch=ARCH, depth=depth, img_size=IMG, patch_size=PATCH)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name.endswith('lora_B'):
                param.normal_()
    return model


@pytest.fixture(scope='module')
def image() -> torch.Tensor:
    return torch.randn(1, 3, IMG, IMG)


def attention_flops(num_layers: int) -> int:
    """q @ k^T and attn @ v of every layer: 2 * tokens^2 * embed_dims multiply-adds each."""
    return num_layers * 2 * TOKENS * TOKENS * ARCH['embed_dims']


def test_2x_scalenet_equals_mmengine_count_of_plain_vit_of_same_depth(image):
    ours = count_flops(scalenet(6), image)
    mmengine = get_model_complexity_info(plain(6), inputs=(image, ), show_table=False,
                                         show_arch=False)['flops']
    # mmengine has no handle for scaled_dot_product_attention (both models call it): the
    # rest must agree exactly, and the attention term must be the analytic one.
    sdpa = ours['by_operator']['scaled_dot_product_attention']
    assert ours['total'] - sdpa == mmengine
    assert sdpa == attention_flops(6)
    assert count_flops(plain(6), image)['total'] == ours['total']


def test_2x_scalenet_is_about_twice_the_pretrained_model(image):
    two_x = count_flops(scalenet(6), image)['total']
    one_x = count_flops(plain(3), image)['total']
    embed = count_flops(plain(3), image)['by_module']['patch_embed']
    norm = count_flops(plain(3), image)['by_module']['ln1']
    assert two_x - embed - norm == 2 * (one_x - embed - norm)
    assert 1.7 < two_x / one_x <= 2.0


def test_flops_per_instance_one_figure_per_use(image):
    model = scalenet(6)
    calls = scalenet_instance_flops(model, image)
    assert [c for c, _ in calls] == [f'instances.{i}->layers.{i % 3}' for i in range(6)]
    per_layer = count_flops(plain(1), image)
    layer = per_layer['total'] - per_layer['by_module']['patch_embed'] - \
        per_layer['by_module']['ln1']
    assert all(f == layer for _, f in calls)
    total = count_flops(model, image)
    assert sum(f for _, f in calls) == total['by_module']['layers']


def test_merged_weights_are_not_charged_per_image(image):
    model = scalenet(6)
    # live adapters (train mode) would add LoRA work; the inference count uses merged weights
    assert count_flops(model, image)['by_operator'].get('matmul', 0) == 0
    d, f, r = ARCH['embed_dims'], ARCH['feedforward_channels'], 10
    assert lora_merge_flops(model) == 6 * r * (d * 3 * d + d * d + d * f + f * d)


def test_per_call_flops_generic_module_type(image):
    model = plain(2)
    from mmpretrain.models.backbones.vision_transformer import TransformerEncoderLayer
    calls = per_call_flops(model, image, TransformerEncoderLayer)
    assert [c for c, _ in calls] == ['layers.0#1', 'layers.1#1']
    assert calls[0][1] == calls[1][1] > 0


def test_training_mode_restored(image):
    model = scalenet(6)
    model.train()
    count_flops(model, image)
    assert model.training and all(m.training for m in model.modules())


def _classifier_config(path: Path, backbone: dict) -> Path:
    """An mmpretrain classifier config (10-class linear head) around ``backbone``."""
    Config(dict(default_scope='mmpretrain', model=dict(
        type='ImageClassifier', backbone=backbone, neck=None,
        head=dict(type='LinearClsHead', num_classes=10, in_channels=ARCH['embed_dims'])))
    ).dump(str(path))
    return path


def _mmpretrain_get_flops(config: Path) -> dict:
    """The figures of mmpretrain's ``tools/analysis_tools/get_flops.py`` (its ``main`` without the
    printing): ``get_model(config)``, eval, ``forward = extract_feat``, then mmengine's
    ``get_model_complexity_info`` on a ``(3, IMG, IMG)`` input."""
    from mmpretrain import get_model
    model = get_model(str(config))
    model.eval()
    model.forward = model.extract_feat
    return get_model_complexity_info(model, (3, IMG, IMG))


@pytest.mark.parametrize('backbone', [
    dict(type='ScaleNetViT', arch=ARCH, depth=1.0, adapter=None, img_size=IMG, patch_size=PATCH),
    dict(type='VisionTransformer', arch=ARCH, img_size=IMG, patch_size=PATCH),
], ids=['ScaleNetViT-plain', 'mmpretrain-VisionTransformer'])
def test_get_flops_tool_agrees_with_mmpretrain_tool_on_a_plain_vit(tmp_path: Path, backbone: dict,
                                                                  capsys, monkeypatch) -> None:
    """tools/analysis/get_flops.py against mmpretrain's get_flops.py on the same classifier
    config, for a plain ViT (no sharing, no adapters), where the two must agree: parameters
    exactly (both count the whole model, each tensor once) and FLOPs up to one known term.
    mmengine's counter (fvcore's rules) has no handle for ``scaled_dot_product_attention`` and
    counts it 0, so mmpretrain's figure lacks the attention products ``q @ k^T`` and
    ``attn @ v``: ``num_layers * 2 * tokens^2 * embed_dims`` multiply-adds, which ours adds."""
    config = _classifier_config(tmp_path / 'plain_vit.py', backbone)
    reference = _mmpretrain_get_flops(config)
    tool = runpy.run_path(str(Path(__file__).resolve().parents[2] / 'tools' / 'analysis' /
                              'get_flops.py'))
    ours = tool['main']([str(config), '--shape', str(IMG)])
    printed = capsys.readouterr().out

    assert ours['forward'] == 'extract_feat'
    assert ours['params'] == reference['params'] == ours['param_registrations'] > 0
    attention = attention_flops(ARCH['num_layers'])
    assert ours['flops_by_operator']['scaled_dot_product_attention'] == attention
    assert ours['flops'] - reference['flops'] == attention
    assert reference['flops'] > attention > 0

    # The printed block is mmpretrain's: run its script on the same config and compare lines.
    script = Path(mmpretrain.__file__).parent / '.mim' / 'tools' / 'analysis_tools' / 'get_flops.py'
    if not script.is_file():
        pytest.skip(f'{script} is not installed with mmpretrain')
    monkeypatch.setattr(sys, 'argv', [str(script), str(config), '--shape', str(IMG)])
    runpy.run_path(str(script), run_name='__main__')
    theirs = capsys.readouterr().out

    def block(text: str, key: str) -> str:
        return next(line for line in text.splitlines() if line.startswith(f'{key}: '))

    assert block(printed, 'Input shape') == block(theirs, 'Input shape')
    assert block(printed, 'Params') == block(theirs, 'Params') == \
        f'Params: {reference["params_str"]}'
    assert block(theirs, 'Flops') == f'Flops: {reference["flops_str"]}'
    assert block(printed, 'Flops') == f'Flops: {tool["format_size"](ours["flops"])}'


def test_analyze_finds_a_swin_backbone_inside_a_classifier() -> None:
    """``analyze`` (what tools/analysis/get_flops.py prints) on an mmpretrain classifier around a
    2x ``ScaleNetSwin``: the backbone is found through the classifier although its instances
    live per stage, so the shared / per-instance split and one FLOP figure per instance (in
    call order, each naming its source block) are reported."""
    from mmpretrain.models import ImageClassifier

    from scalenet_mm.models import ScaleNetSwin
    from scalenet_mm.utils.complexity import analyze, find_scalenet_backbone

    arch = dict(embed_dims=16, depths=[2, 2], num_heads=[1, 2])
    backbone = dict(type='ScaleNetSwin', arch=arch, depth=2.0, img_size=32, window_size=2,
                    patch_size=4, out_indices=(1, ))
    model = ImageClassifier(backbone=backbone, neck=dict(type='GlobalAveragePooling'),
                            head=dict(type='LinearClsHead', num_classes=10, in_channels=32))
    found = find_scalenet_backbone(model)
    assert isinstance(found, ScaleNetSwin) and found is model.backbone

    result = analyze(model, (3, 32, 32))
    split = result['params_split']
    assert split == {k: v for k, v in model.backbone.count_parameters().items()
                     if k in ('shared', 'per_instance', 'other')}
    assert split['shared'] > 0 and split['per_instance'] > 0
    calls = [c['call'] for c in result['flops_per_instance']]
    stage = 'model.backbone.stages.{}'
    assert calls == [f'{stage.format(s)}.instances.{i}->{stage.format(s)}.blocks.{i % 2}'
                     for s in range(2) for i in range(4)]
    assert all(c['flops'] > 0 for c in result['flops_per_instance'])
