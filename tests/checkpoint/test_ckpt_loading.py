"""load_pretrained against models nobody here wrote: timm's DeiT and mmpretrain's ViT.

Every reference model has all of its parameters randomised, so a wrong key mapping (norm1 vs
norm2, fc1 vs fc2, a dropped final norm) changes the outputs and fails the comparison.
"""
import logging
import re
from pathlib import Path

import pytest
import torch
from mmengine.logging import MMLogger

from ckpt_helpers import (images, max_diff, mm_vit, randomize_, scalenet, timm_deit_tiny,
                          timm_small_vit)
from scalenet_mm.checkpoint import (CheckpointFormatError, CheckpointMismatchError,
                                    UnsafeCheckpointError, load_pretrained)

DEIT_TINY = 'deit-tiny'
ATOL = 1e-5


def _official(model: torch.nn.Module) -> dict:
    """The official DeiT release layout: ``{'model': state_dict}`` with the head."""
    return {'model': {k: v.clone() for k, v in model.state_dict().items()}}


def test_official_deit_tiny_equals_timm_features(tmp_path: Path) -> None:
    """DeiT-Tiny (12 layers) saved as the official release loads and gives timm's features."""
    ref = timm_deit_tiny(img_size=32)
    path = tmp_path / 'deit_tiny_patch16_224.pth'
    torch.save(_official(ref), path)
    model = scalenet(DEIT_TINY, depth=1.0, adapter=None)
    report = load_pretrained(model, str(path))
    x = images()
    with torch.no_grad():
        expected = ref.forward_features(x)  # after the final norm, all tokens
        got = model(x)[0]
    assert got.shape == expected.shape == (2, 5, 192)
    assert max_diff(got, expected) < ATOL
    assert report.source_format == 'timm'
    assert set(report.unexpected_keys) == {'head.weight', 'head.bias'}
    assert report.missing_keys == []
    assert len(report.loaded_keys) == len(model.state_dict())


def test_official_deit_into_2x_scalenet_runs_the_layers_twice(tmp_path: Path) -> None:
    """Base weights fill a 2x model: instance i uses layer i % L; adapters are reported missing
    (they keep their zero init) and the 2x forward equals timm's blocks run twice."""
    ref = timm_small_vit()
    model = scalenet(depth=2.0, adapter=dict(type='lora', rank=4))
    report = load_pretrained(model, _official(ref))
    assert all(k.startswith('instances.') for k in report.missing_keys)
    assert len(report.missing_keys) == 6 * 4 * 2  # 6 instances x 4 targets x (A, B)
    x = images()
    with torch.no_grad():
        tokens = ref._pos_embed(ref.patch_embed(x))
        for block in list(ref.blocks) * 2:
            tokens = block(tokens)
        expected = ref.norm(tokens)
        got = model(x)[0]
    assert max_diff(got, expected) < ATOL


def test_mmpretrain_layout_with_backbone_prefix(tmp_path: Path) -> None:
    """A stock mmpretrain VisionTransformer, saved as a classifier ({'state_dict': backbone.*,
    head.*}), loads into ScaleNetViT (prefix found automatically) with identical outputs."""
    ref = mm_vit()
    state = {f'backbone.{k}': v for k, v in ref.state_dict().items()}
    state['head.layers.head.weight'] = torch.zeros(10, 64)
    path = tmp_path / 'vit_mmpretrain.pth'
    torch.save({'state_dict': state, 'meta': {'epoch': 3}}, path)
    model = scalenet(depth=1.0, adapter=None)
    report = load_pretrained(model, str(path))
    x = images()
    with torch.no_grad():
        assert max_diff(model(x)[0], ref(x)[0]) < ATOL
    assert report.source_format == 'mmpretrain'
    assert report.unexpected_keys == ['head.layers.head.weight']
    # an explicit prefix works the same way
    other = scalenet(depth=1.0, adapter=None)
    load_pretrained(other, str(path), prefix='backbone')
    assert torch.equal(other.layers[2].ffn.fc2.weight, ref.layers[2].ffn.layers[1].weight)


def test_mmcv_attention_names_are_read_as_qkv() -> None:
    """Older OpenMMLab ViTs name the fused projection ``attn.attn.in_proj_weight``."""
    ref = mm_vit()
    state = {}
    for k, v in ref.state_dict().items():
        k = re.sub(r'attn\.qkv\.weight$', 'attn.attn.in_proj_weight', k)
        k = re.sub(r'attn\.qkv\.bias$', 'attn.attn.in_proj_bias', k)
        k = re.sub(r'attn\.proj\.', 'attn.attn.out_proj.', k)
        state[k] = v
    model = scalenet(depth=1.0, adapter=None)
    load_pretrained(model, state)
    with torch.no_grad():
        assert max_diff(model(images())[0], ref(images())[0]) < ATOL


def test_distilled_deit_drops_the_distillation_token(tmp_path: Path) -> None:
    """Distilled DeiT: dist_token and its pos_embed slot are dropped, heads are unused, and the
    model equals timm's plain DeiT given the same weights without the distillation token."""
    ref = timm_deit_tiny(img_size=32, distilled=True)
    sd = ref.state_dict()
    assert sd['pos_embed'].shape[1] == 2 + 4
    model = scalenet(DEIT_TINY, depth=1.0, adapter=None)
    report = load_pretrained(model, {'model': sd})
    assert torch.equal(model.pos_embed[:, :1], sd['pos_embed'][:, :1])
    assert torch.equal(model.pos_embed[:, 1:], sd['pos_embed'][:, 2:])
    assert {'dist_token', 'head.weight', 'head_dist.weight'} <= set(report.unexpected_keys)
    assert any('distillation' in note for note in report.notes)

    plain = timm_deit_tiny(img_size=32)
    plain_sd = {k: v for k, v in sd.items() if not k.startswith(('dist_token', 'head_dist'))}
    plain_sd['pos_embed'] = torch.cat([sd['pos_embed'][:, :1], sd['pos_embed'][:, 2:]], dim=1)
    plain.load_state_dict(plain_sd)
    with torch.no_grad():
        assert max_diff(model(images())[0], plain.forward_features(images())) < ATOL


def test_pos_embed_resized_like_mmpretrain_and_timm() -> None:
    """A 32 px checkpoint (2x2 grid) loaded into a 64 px model (4x4) is resized as
    mmpretrain's ViT does (bicubic, no antialias); timm's filter with antialias=False gives
    the same features, and mmpretrain's own loading hook the same tensor."""
    from timm.models.vision_transformer import checkpoint_filter_fn
    small = timm_small_vit(img_size=32)
    big_model = scalenet(depth=1.0, adapter=None, img_size=64)
    report = load_pretrained(big_model, _official(small))
    assert any('resized pos_embed (1, 5, 64) -> (1, 17, 64)' in note for note in report.notes)
    big_ref = timm_small_vit(img_size=64)
    big_ref.load_state_dict(
        checkpoint_filter_fn(small.state_dict(), big_ref, antialias=False))
    x = images(size=64)
    with torch.no_grad():
        assert max_diff(big_model(x)[0], big_ref.forward_features(x)) < ATOL
    mm_small, mm_big = mm_vit(img_size=32), mm_vit(img_size=64)
    mm_big.load_state_dict(mm_small.state_dict())  # mmpretrain's pre-hook resizes
    other = scalenet(depth=1.0, adapter=None, img_size=64)
    load_pretrained(other, mm_small.state_dict())
    assert max_diff(other.pos_embed, mm_big.pos_embed) < 1e-6


def test_cls_free_backbone_drops_the_class_slot() -> None:
    """Detection backbones (no class token) take the patch part of pos_embed only."""
    ref = timm_small_vit()
    model = scalenet(depth=1.0, adapter=None, with_cls_token=False, out_type='featmap')
    report = load_pretrained(model, _official(ref))
    assert torch.equal(model.pos_embed, ref.pos_embed[:, 1:])
    assert 'cls_token' in report.unexpected_keys


def test_report_is_logged() -> None:
    """The user sees used / missing / unexpected keys in the mmengine log."""
    logger = MMLogger.get_instance('ckpt_report_test', log_level='INFO')
    records = []

    class Keep(logging.Handler):

        def emit(self, record: logging.LogRecord) -> None:
            records.append(record.getMessage())

    handler = Keep()
    logger.addHandler(handler)
    try:
        model = scalenet(depth=2.0, adapter=dict(type='lora', rank=2))
        load_pretrained(model, _official(timm_small_vit()), logger=logger)
    finally:
        logger.removeHandler(handler)
    text = '\n'.join(records)
    assert 'timm layout' in text
    assert 'missing:    instances.*.lora.qkv.lora_A (x6)' in text
    assert 'unexpected: head.weight, head.bias' in text


def _snapshot(model: torch.nn.Module) -> dict:
    return {k: v.clone() for k, v in model.state_dict().items()}


def _assert_unchanged(model: torch.nn.Module, before: dict) -> None:
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), f'{k} changed by a refused load'


def test_deit_small_into_deit_tiny_is_refused_naming_shapes() -> None:
    """Another width: refused before anything is copied, keys and both shapes named."""
    import timm
    small = timm.create_model('deit_small_patch16_224', pretrained=False, img_size=32)
    model = scalenet(DEIT_TINY, depth=2.0)
    before = _snapshot(model)
    with pytest.raises(CheckpointMismatchError) as info:
        load_pretrained(model, {'model': small.state_dict()})
    text = str(info.value)
    assert 'layers.0.attn.qkv.weight: checkpoint (1152, 384) vs model (576, 192)' in text
    assert "mmpretrain arch ['deit-small', 'deit-s']" in text or 'deit-small' in text
    assert 'nothing was loaded' in text
    _assert_unchanged(model, before)


def test_wrong_number_of_layers_is_refused() -> None:
    model = scalenet(depth=2.0)
    before = _snapshot(model)
    with pytest.raises(CheckpointMismatchError, match=r'4 pretrained layers .* the model has 3'):
        load_pretrained(model, _official(timm_small_vit(depth=4)))
    with pytest.raises(CheckpointMismatchError, match=r'missing from the checkpoint: '
                                                      r'layers\.\*\.ln1\.weight'):
        load_pretrained(model, _official(timm_small_vit(depth=2)))
    _assert_unchanged(model, before)


def test_missing_shared_tensors_are_refused_unless_allowed() -> None:
    sd = _official(timm_small_vit())['model']
    del sd['blocks.1.mlp.fc2.weight']
    model = scalenet(depth=1.0, adapter=None)
    with pytest.raises(CheckpointMismatchError, match=r'layers\.1\.ffn\.layers\.1\.weight'):
        load_pretrained(model, sd)
    report = load_pretrained(model, sd, strict_shared=False)
    assert report.missing_keys == ['layers.1.ffn.layers.1.weight']


def test_tensors_the_model_cannot_hold_are_refused() -> None:
    """Layer scale (DeiT-III ``ls1.gamma``) changes the function: never dropped silently."""
    sd = _official(timm_small_vit())['model']
    sd['blocks.0.ls1.gamma'] = torch.ones(64)
    with pytest.raises(CheckpointMismatchError, match=r'no place for 1 checkpoint tensors: blocks\.0\.ls1\.gamma'):
        load_pretrained(scalenet(depth=1.0, adapter=None), sd)


def test_scalenet_checkpoint_round_trip_and_other_adapter_config() -> None:
    """A ScaleNet checkpoint restores its instances; one of another rank is refused."""
    src = randomize_(scalenet(depth=2.0, adapter=dict(type='lora', rank=4), gate_inserted=True))
    dst = scalenet(depth=2.0, adapter=dict(type='lora', rank=4), gate_inserted=True)
    report = load_pretrained(dst, {'state_dict': src.state_dict()})
    assert report.source_format == 'scalenet' and report.missing_keys == []
    with torch.no_grad():
        assert torch.equal(dst(images())[0], src(images())[0])
    with pytest.raises(CheckpointMismatchError, match=r'instances\.0\.lora\.qkv\.lora_A: '
                                                      r'checkpoint \(4, 64\) vs model \(8, 64\)'):
        load_pretrained(scalenet(depth=2.0, adapter=dict(type='lora', rank=8)), src.state_dict())


def test_not_a_checkpoint(tmp_path: Path) -> None:
    text = tmp_path / 'index.html'
    text.write_text('<html>404</html>')
    with pytest.raises(CheckpointFormatError, match='index.html is not a PyTorch checkpoint'):
        load_pretrained(scalenet(depth=1.0), str(text))
    resnet = tmp_path / 'resnet.pth'
    torch.save({'state_dict': {'conv1.weight': torch.zeros(8, 3, 7, 7)}}, resnet)
    with pytest.raises(CheckpointFormatError, match='cannot tell the layout .*conv1.weight'):
        load_pretrained(scalenet(depth=1.0), str(resnet))


def test_unknown_remote_pickle_never_reaches_the_trusted_local_loader(tmp_path: Path) -> None:
    """load_pretrained reads an in-memory dict as given; files go through mmengine's schemes.
    A local pickle that would run code is only read by the trusted local loader, so here we
    check the weights-only reader used by the tools refuses it."""
    from scalenet_mm.checkpoint import load_local_checkpoint
    marker = tmp_path / 'ran'

    class Evil:

        def __reduce__(self):
            return (exec, (f'open({str(marker)!r}, "w").write("x")', ))

    path = tmp_path / 'evil.pth'
    torch.save({'state_dict': {}, 'x': Evil()}, path)
    with pytest.raises(UnsafeCheckpointError, match=r"builtins\.exec"):
        load_local_checkpoint(str(path))
    assert not marker.exists()
