"""Expand a base checkpoint into ScaleNet, train-like perturb it, export it as a plain ViT, and
check that stock mmpretrain and timm models (no plugin code) compute the same outputs."""
from typing import Any, Dict

import pytest
import torch
from mmpretrain.models import VisionTransformer
from mmpretrain.registry import MODELS

from ckpt_helpers import (SMALL_ARCH, images, max_diff, randomize_, scalenet, timm_small_vit)
from scalenet_mm.checkpoint import (ExportError, expand_checkpoint, export_plain_classifier,
                                    export_plain_state_dict, load_pretrained,
                                    plain_backbone_config)

ATOL = 2e-5
L = SMALL_ARCH['num_layers']
SCALENET_KW: Dict[str, Any] = dict(depth=2.0, adapter=dict(type='lora', rank=4, alpha=8),
                                   per_instance_norm=True, gate_inserted=True)


def _train_like(model: torch.nn.Module, seed: int = 3) -> torch.nn.Module:
    """Give every adapter, gate and own norm non-zero, non-trivial values (as after training)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if '.instances.' in f'.{name}' or name.startswith('instances.'):
                param.copy_(torch.randn(param.shape, generator=gen) * 0.1
                            + (1.0 if name.endswith(('ln1.weight', 'ln2.weight')) else 0.0))
    return model


def _expanded_backbone() -> torch.nn.Module:
    model = scalenet(**SCALENET_KW)
    expand_checkpoint({'model': timm_small_vit().state_dict()}, model)
    return model


def test_expand_preserves_the_base_function() -> None:
    """Gated expansion: at step 0 the 2x model computes exactly the base DeiT (timm)."""
    base = timm_small_vit()
    model = _expanded_backbone()
    with torch.no_grad():
        assert max_diff(model(images())[0], base.forward_features(images())) < ATOL
    # own norms were filled from their source layers, inserted gates are zero
    assert torch.equal(model.instances[L].ln1.weight, model.layers[0].ln1.weight)
    assert model.instances[L].gate1.abs().sum() == 0


def test_export_loads_into_stock_mmpretrain_vit() -> None:
    model = _train_like(_expanded_backbone())
    assert model.instances[L].lora['qkv'].lora_B.abs().sum() > 0
    exported = export_plain_state_dict(model, 'mmpretrain')
    cfg = plain_backbone_config(model)
    assert cfg['arch']['num_layers'] == 2 * L
    plain = VisionTransformer(**{k: v for k, v in cfg.items() if k != 'type'})
    plain.load_state_dict(exported, strict=True)
    plain.eval()
    x = images()
    with torch.no_grad():
        diff = max_diff(plain(x)[0], model(x)[0])
    assert diff < ATOL, diff
    # sharing is undone: instance i and i + L no longer share storage
    assert (exported['layers.0.attn.qkv.weight'].data_ptr()
            != exported[f'layers.{L}.attn.qkv.weight'].data_ptr())
    # the merge really changed the weights (a no-op export would fail the equality above too)
    assert not torch.equal(exported['layers.0.attn.qkv.weight'], model.layers[0].attn.qkv.weight)


def test_export_timm_layout_loads_into_timm_vit() -> None:
    model = _train_like(_expanded_backbone())
    exported = export_plain_state_dict(model, 'timm')
    plain = timm_small_vit(depth=2 * L, num_classes=0)
    plain.load_state_dict(exported, strict=True)
    x = images()
    with torch.no_grad():
        diff = max_diff(plain.forward_features(x), model(x)[0])
    assert diff < ATOL, diff


def _classifier(backbone: Dict[str, Any], num_classes: int = 10) -> torch.nn.Module:
    model = MODELS.build(dict(
        type='ImageClassifier', backbone=backbone, neck=None,
        head=dict(type='VisionTransformerClsHead', num_classes=num_classes, in_channels=64)))
    model.eval()
    return model


def _scalenet_backbone_cfg(**kwargs: Any) -> Dict[str, Any]:
    cfg = dict(type='ScaleNetViT', arch=dict(SMALL_ARCH), img_size=32, patch_size=16)
    cfg.update(SCALENET_KW, **kwargs)
    return cfg


def test_classifier_expand_carries_the_head_and_exports_whole() -> None:
    """Expanding a timm classifier into a ScaleNet ImageClassifier carries the head over (the
    logits equal timm's at step 0); the trained classifier exports as a whole."""
    base = timm_small_vit(num_classes=10)
    model = _classifier(_scalenet_backbone_cfg())
    _, report = expand_checkpoint({'model': base.state_dict()}, model)
    assert any('carried the classifier head' in note for note in report.notes)
    x = images()
    with torch.no_grad():
        assert max_diff(model(x, mode='tensor'), base(x)) < ATOL

    _train_like(model.backbone)
    randomize_(model.head, seed=5)
    with torch.no_grad():
        logits = model(x, mode='tensor')

    mm = export_plain_classifier(model, 'mmpretrain')
    plain = _classifier(dict(type='VisionTransformer',
                             arch=dict(SMALL_ARCH, num_layers=2 * L), img_size=32, patch_size=16))
    plain.load_state_dict(mm, strict=True)
    with torch.no_grad():
        assert max_diff(plain(x, mode='tensor'), logits) < ATOL

    tm = export_plain_classifier(model, 'timm')
    timm_plain = timm_small_vit(depth=2 * L, num_classes=10)
    timm_plain.load_state_dict(tm, strict=True)
    with torch.no_grad():
        assert max_diff(timm_plain(x), logits) < ATOL


def test_export_refuses_what_a_plain_vit_cannot_express() -> None:
    bottleneck = scalenet(depth=2.0, adapter=dict(type='bottleneck', width=8))
    with pytest.raises(ExportError, match=r'bottleneck adapters.*cannot be folded'):
        export_plain_state_dict(bottleneck)
    windowed = scalenet(depth=2.0, adapter=None, with_cls_token=False, out_type='featmap',
                        window_size=1, global_attn_indexes=(2, 5), use_rel_pos=True)
    with pytest.raises(ExportError, match=r'window attention.*relative position'):
        export_plain_state_dict(windowed)
    with pytest.raises(ValueError, match='layout'):
        export_plain_state_dict(scalenet(depth=1.0), layout='onnx')


def test_exported_weights_reload_into_scalenet_depth_1() -> None:
    """The exported mmpretrain layout is itself a base checkpoint: a ScaleNetViT of depth
    L' = 2L with adapter=None loads it through load_pretrained and matches."""
    model = _train_like(_expanded_backbone())
    exported = export_plain_state_dict(model)
    again = scalenet(arch=dict(SMALL_ARCH, num_layers=2 * L), depth=1.0, adapter=None)
    load_pretrained(again, exported)
    with torch.no_grad():
        assert max_diff(again(images())[0], model(images())[0]) < ATOL
