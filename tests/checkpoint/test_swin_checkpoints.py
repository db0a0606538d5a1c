"""Swin checkpoints against models nobody here wrote: mmpretrain's and mmdet's
SwinTransformer and timm's. Every reference has all of its parameters randomised, so a wrong
key mapping (norm1 vs norm2, the patch-merging channel order, the final norm) changes the
outputs. Covers layout detection (mmpretrain / mmdet, timm, Microsoft's release, ScaleNet),
bias-table resizing, refusals that load nothing, and export to stock mmpretrain / timm Swins."""
import re
from pathlib import Path
from typing import Dict

import pytest
import timm
import torch
from mmpretrain.models import ImageClassifier, SwinTransformer
from timm.models.swin_transformer import checkpoint_filter_fn

from ckpt_helpers import max_diff, randomize_, timm_small_vit
import scalenet_mm  # noqa: F401  (registers the modules)
from scalenet_mm.checkpoint import (CheckpointMismatchError, ExportError, detect_layout,
                                    export_plain_classifier, export_plain_state_dict,
                                    load_pretrained, plain_backbone_config)
from scalenet_mm.checkpoint.formats import swin_layout
from scalenet_mm.models import ScaleNetViT
from scalenet_mm.models.backbones import ScaleNetSwin

ATOL = 3e-5
ARCH = dict(embed_dims=16, depths=[2, 2, 2, 2], num_heads=[1, 2, 2, 4])
GEOMETRY = dict(img_size=64, patch_size=2, window_size=4)


def images(size: int = 64, seed: int = 1) -> torch.Tensor:
    return torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(seed))


def mm_swin(window_size: int = 4, **kwargs) -> SwinTransformer:
    model = SwinTransformer(arch=ARCH, **dict(GEOMETRY, window_size=window_size),
                            drop_path_rate=0., **kwargs)
    randomize_(model, seed=0, std=0.1)
    model.eval()
    return model


def timm_swin(depths=(2, 2, 2, 2), num_classes: int = 10) -> torch.nn.Module:
    torch.manual_seed(0)
    model = timm.models.swin_transformer.SwinTransformer(
        img_size=64, patch_size=2, window_size=4, embed_dim=16, depths=tuple(depths),
        num_heads=(1, 2, 2, 4), num_classes=num_classes, drop_path_rate=0.)
    return randomize_(model, seed=0, std=0.1).eval()


def scalenet_swin(**kwargs) -> ScaleNetSwin:
    kwargs.setdefault('depth', 1.0)
    kwargs.setdefault('adapter', None)
    return ScaleNetSwin(arch=ARCH, **GEOMETRY, drop_path_rate=0., **kwargs).eval()


def official_from_timm(timm_sd: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """The Microsoft release layout of a timm Swin: patch merging at the *end* of stage s,
    ``head`` instead of ``head.fc``, plus the release's ``attn_mask`` and index buffers.
    Checked in the test by timm's own ``checkpoint_filter_fn``, which reads that layout."""
    out = {}
    for key, value in timm_sd.items():
        key = re.sub(r'^layers\.(\d+)\.downsample',
                     lambda m: f'layers.{int(m.group(1)) - 1}.downsample', key)
        out[key.replace('head.fc.', 'head.')] = value
    out['layers.0.blocks.1.attn_mask'] = torch.zeros(64, 16, 16)
    out['layers.0.blocks.0.attn.relative_position_index'] = torch.zeros(16, 16, dtype=torch.long)
    return out


def features(model: ScaleNetSwin, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model(x)[-1]


# ------------------------------------------------------------------ layouts
def test_mmpretrain_classifier_checkpoint_file_loads_via_init_cfg(tmp_path: Path) -> None:
    ref = mm_swin()
    classifier_sd = {f'backbone.{k}': v for k, v in ref.state_dict().items()}
    classifier_sd['head.fc.weight'] = torch.randn(10, 128)
    classifier_sd['head.fc.bias'] = torch.randn(10)
    path = tmp_path / 'swin_mmpretrain.pth'
    torch.save({'state_dict': classifier_sd, 'meta': {}}, path)
    model = scalenet_swin(init_cfg=dict(type='Pretrained', checkpoint=str(path)))
    model.init_weights()
    x = images()
    with torch.no_grad():
        assert max_diff(features(model, x), ref(x)[-1]) < ATOL
    report = load_pretrained(scalenet_swin(), str(path))
    assert report.source_format == 'swin-mmpretrain'
    assert set(report.unexpected_keys) == {'head.fc.weight', 'head.fc.bias'}
    assert report.missing_keys == []


def test_mmdet_detector_checkpoint_fills_all_four_output_norms() -> None:
    from mmdet.models.backbones import SwinTransformer as MMDetSwin
    ref = MMDetSwin(embed_dims=16, depths=[2, 2, 2, 2], num_heads=[1, 2, 2, 4], window_size=4,
                    patch_size=2, strides=(2, 2, 2, 2), drop_path_rate=0.)
    randomize_(ref, seed=2, std=0.1)
    ref.eval()
    detector_sd = {f'backbone.{k}': v for k, v in ref.state_dict().items()}
    detector_sd['neck.lateral_convs.0.conv.weight'] = torch.randn(8, 16, 1, 1)
    model = scalenet_swin(out_indices=(0, 1, 2, 3), pad_small_map=True)
    report = load_pretrained(model, {'state_dict': detector_sd})
    assert report.source_format == 'swin-mmpretrain' and report.missing_keys == []
    x = images(72)
    with torch.no_grad():
        for ours, theirs in zip(model(x), ref(x)):
            assert max_diff(ours, theirs) < ATOL


def test_timm_layout_equals_timm_features_and_fills_a_2x_model() -> None:
    ref = timm_swin()
    sd = ref.state_dict()
    assert detect_layout(sd) == 'swin-timm'
    model = scalenet_swin()
    report = load_pretrained(model, {'model': sd})
    assert set(report.unexpected_keys) == {'head.fc.weight', 'head.fc.bias'}
    x = images()
    with torch.no_grad():
        assert max_diff(features(model, x), ref.forward_features(x).permute(0, 3, 1, 2)) < ATOL
    # the same weights in a 2x model: every shared block filled, only instances missing
    big = scalenet_swin(depth=2.0, adapter=dict(type='lora', rank=2))
    report = load_pretrained(big, sd)
    assert report.missing_keys and all('.instances.' in k for k in report.missing_keys)
    for s, stage in enumerate(big.stages):
        for j, block in enumerate(stage.blocks):
            assert torch.equal(block.attn.w_msa.qkv.weight, ref.layers[s].blocks[j].attn.qkv.weight)


def test_microsoft_release_layout_is_detected_and_converted() -> None:
    """The release layout (as timm's own filter reads it) gives timm's features; the
    release's attn_mask / index buffers are not loaded (the model keeps its own)."""
    ref = timm_swin()
    official = official_from_timm(ref.state_dict())
    assert detect_layout(official) == 'swin-official'
    check = timm_swin()
    randomize_(check, seed=9)  # different weights, replaced by timm's filter of `official`
    check.load_state_dict(checkpoint_filter_fn(dict(official), check), strict=True)
    model = scalenet_swin()
    report = load_pretrained(model, {'model': official})
    assert any('derived buffers' in note for note in report.notes)
    index = model.stages[0].blocks[0].attn.w_msa.relative_position_index
    assert index.max() > 0  # its own index, not the release's zeros
    x = images()
    with torch.no_grad():
        expected = check.forward_features(x).permute(0, 3, 1, 2)
        assert max_diff(features(model, x), expected) < ATOL


def test_scalenet_swin_checkpoint_round_trip() -> None:
    model = scalenet_swin(depth=2.0, adapter=dict(type='lora', rank=2), gate_inserted=True)
    randomize_(model, seed=4)
    assert swin_layout(list(model.state_dict())) == 'scalenet-swin'
    again = scalenet_swin(depth=2.0, adapter=dict(type='lora', rank=2), gate_inserted=True)
    report = load_pretrained(again, model.state_dict())
    assert report.source_format == 'scalenet-swin' and report.missing_keys == []
    x = images()
    assert max_diff(features(again, x), features(model, x)) == 0


def test_bias_tables_are_resized_as_timm_does_when_the_window_changes() -> None:
    """Window 4 -> 6 (as 7 -> 12 for 384 px): the tables equal timm's Swin loader's resize
    (mmpretrain's own resize needs scipy's interp2d, gone since SciPy 1.14)."""
    small = timm_swin()
    ref = timm.models.swin_transformer.SwinTransformer(
        img_size=96, patch_size=2, window_size=6, embed_dim=16, depths=(2, 2, 2, 2),
        num_heads=(1, 2, 2, 4), num_classes=10)
    ref.load_state_dict(checkpoint_filter_fn(small.state_dict(), ref), strict=True)
    model = ScaleNetSwin(arch=ARCH, img_size=96, patch_size=2, window_size=6, depth=1.0,
                         adapter=None, pad_small_map=True)
    report = load_pretrained(model, small.state_dict())
    assert any('resized 8 relative-position bias tables' in n for n in report.notes)
    got = model.stages[2].blocks[1].attn.w_msa.relative_position_bias_table
    assert got.shape == (11 * 11, 2)
    torch.testing.assert_close(got, ref.layers[2].blocks[1].attn.relative_position_bias_table)
    # plain load_state_dict of an mmpretrain checkpoint (the pre-hook) resizes the same way
    small_model = scalenet_swin()
    load_pretrained(small_model, small.state_dict())
    plain = ScaleNetSwin(arch=ARCH, img_size=96, patch_size=2, window_size=6, depth=1.0,
                         adapter=None, pad_small_map=True)
    plain.load_state_dict(small_model.state_dict(), strict=True)
    torch.testing.assert_close(plain.stages[2].blocks[1].attn.w_msa.relative_position_bias_table,
                               got)


# ------------------------------------------------------------------ refusals, nothing loaded
def _snapshot(model: torch.nn.Module) -> Dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in model.state_dict().items()}


def _unchanged(model: torch.nn.Module, before: Dict[str, torch.Tensor]) -> bool:
    return all(torch.equal(v, before[k]) for k, v in model.state_dict().items())


def test_vit_checkpoint_given_to_swin_is_refused_and_nothing_loaded() -> None:
    model = scalenet_swin(depth=2.0)
    before = _snapshot(model)
    with pytest.raises(CheckpointMismatchError,
                       match=r'is a ViT checkpoint \(timm layout\) but ScaleNetSwin is a Swin '
                             r'Transformer backbone; nothing was loaded.*ScaleNetViT'):
        load_pretrained(model, {'model': timm_small_vit().state_dict()})
    assert _unchanged(model, before)


def test_swin_checkpoint_given_to_vit_is_refused() -> None:
    model = ScaleNetViT(arch=dict(embed_dims=64, num_layers=3, num_heads=4,
                                  feedforward_channels=128), img_size=32, patch_size=16)
    before = _snapshot(model)
    with pytest.raises(CheckpointMismatchError, match=r'is a Swin Transformer checkpoint'):
        load_pretrained(model, mm_swin().state_dict())
    assert _unchanged(model, before)


def test_swin_checkpoint_of_another_arch_is_refused_and_nothing_loaded() -> None:
    other = timm_swin(depths=(2, 2, 4, 2))
    model = scalenet_swin(depth=2.0)
    before = _snapshot(model)
    with pytest.raises(CheckpointMismatchError,
                       match=r'\[2, 2, 4, 2\] pretrained blocks per stage, '
                             r'the model \[2, 2, 2, 2\]'):
        load_pretrained(model, other.state_dict())
    assert _unchanged(model, before)
    wide = SwinTransformer(arch=dict(ARCH, embed_dims=32), **GEOMETRY)
    with pytest.raises(CheckpointMismatchError,
                       match=r'(?s)shape mismatches.*Swin with embed_dims=32'):
        load_pretrained(model, wide.state_dict())
    assert _unchanged(model, before)


# ------------------------------------------------------------------ export
def _trained_2x(**kwargs) -> ScaleNetSwin:
    model = scalenet_swin(depth=2.0, adapter=dict(type='lora', rank=2, alpha=4),
                          per_instance_norm=True, gate_inserted=True, **kwargs)
    return randomize_(model, seed=6, std=0.1).eval()


def test_export_to_stock_mmpretrain_swin_gives_equal_outputs() -> None:
    model = _trained_2x(out_indices=(0, 1, 2, 3))
    cfg = plain_backbone_config(model)
    assert cfg['type'] == 'SwinTransformer' and cfg['arch']['depths'] == [4, 4, 4, 4]
    cfg.pop('type')
    plain = SwinTransformer(**cfg, drop_path_rate=0.)
    plain.load_state_dict(export_plain_state_dict(model), strict=True)
    plain.eval()
    x = images()
    with torch.no_grad():
        for ours, theirs in zip(model(x), plain(x)):
            assert max_diff(ours, theirs) < ATOL


def test_export_to_timm_swin_gives_equal_features_and_logits() -> None:
    model = _trained_2x()
    plain = timm_swin(depths=(4, 4, 4, 4))
    missing, unexpected = plain.load_state_dict(export_plain_state_dict(model, 'timm'),
                                                strict=False)
    assert missing == ['head.fc.weight', 'head.fc.bias'] and unexpected == []
    x = images()
    with torch.no_grad():
        assert max_diff(features(model, x), plain.forward_features(x).permute(0, 3, 1, 2)) < ATOL
    # whole classifier: mmpretrain ImageClassifier -> timm model with its head
    classifier = ImageClassifier(
        backbone=dict(type='ScaleNetSwin', arch=ARCH, **GEOMETRY, depth=2.0,
                      adapter=dict(type='lora', rank=2, alpha=4), gate_inserted=True),
        neck=dict(type='GlobalAveragePooling'),
        head=dict(type='LinearClsHead', num_classes=10, in_channels=128))
    randomize_(classifier, seed=7, std=0.1)
    classifier.eval()
    timm_model = timm_swin(depths=(4, 4, 4, 4))
    timm_model.load_state_dict(export_plain_classifier(classifier, 'timm'), strict=True)
    plain_classifier = ImageClassifier(
        backbone=dict(plain_backbone_config(classifier.backbone), drop_path_rate=0.),
        neck=dict(type='GlobalAveragePooling'),
        head=dict(type='LinearClsHead', num_classes=10, in_channels=128)).eval()
    plain_classifier.load_state_dict(export_plain_classifier(classifier), strict=True)
    with torch.no_grad():
        logits = classifier(x, mode='tensor')
        assert max_diff(logits, timm_model(x)) < ATOL
        assert max_diff(logits, plain_classifier(x, mode='tensor')) < ATOL


def test_export_refusals_name_the_reason() -> None:
    bottleneck = scalenet_swin(depth=2.0, adapter=dict(type='bottleneck', width=4))
    with pytest.raises(ExportError, match=r'stages.0.instances.0.*bottleneck adapters'):
        export_plain_state_dict(bottleneck)
    detection = _trained_2x(out_indices=(0, 1, 2, 3))
    with pytest.raises(ExportError, match=r'no place for norm0.*out_indices=\(3,\)'):
        export_plain_state_dict(detection, 'timm')
