"""Expanding a plain Swin checkpoint into a ScaleNetSwin one (``expand_checkpoint`` and
``tools/model_converters/scalenet_ckpt.py expand``, run in-process), against models nobody
here wrote: the base is a randomised mmpretrain ``ImageClassifier`` with its
``SwinTransformer``, or a randomised timm ``SwinTransformer`` (saved in timm's layout and in
Microsoft's release layout). The expanded ScaleNet Swin 2x (zero-initialised LoRA, own norms
copied from their source blocks) gives the logits of the plain Swin of the same library whose
stage ``s`` holds ``2 * d_s`` blocks copied cyclically from the base's, head carried over;
a config whose depth is not a whole number of instances per stage, a Swin of other blocks per
stage and a ViT checkpoint are refused, and nothing is written. Export of the expanded
checkpoint through the same tool gives a stock Swin with the same logits."""
import importlib.util
import re
from pathlib import Path
from types import ModuleType
from typing import Dict

import pytest
import timm
import torch
from mmengine.config import ConfigDict
from mmengine.registry import DefaultScope
from mmpretrain.registry import MODELS

from ckpt_helpers import max_diff, randomize_, timm_small_vit
import scalenet_mm  # noqa: F401  (registers the modules)
from scalenet_mm.checkpoint import CheckpointMismatchError, expand_checkpoint

REPO = Path(__file__).resolve().parents[2]
ATOL = 3e-5
ARCH = dict(embed_dims=16, depths=[2, 2, 2, 2], num_heads=[1, 2, 2, 4])
GEOMETRY = dict(img_size=64, patch_size=2, window_size=4)
CLASSES = 10
CONFIG = f"""
default_scope = 'mmpretrain'
model = dict(
    type='ImageClassifier',
    backbone=dict(type='ScaleNetSwin', arch={ARCH!r}, img_size=64, patch_size=2, window_size=4,
                  depth=2.0, adapter=dict(type='lora', rank=4), per_instance_norm=True,
                  drop_path_rate=0.,
                  init_cfg=dict(type='Pretrained', checkpoint='https://example.invalid/x.pth')),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(type='LinearClsHead', num_classes={CLASSES}, in_channels=128))
"""


@pytest.fixture(scope='module')
def cli() -> ModuleType:
    path = REPO / 'tools' / 'model_converters' / 'scalenet_ckpt.py'
    spec = importlib.util.spec_from_file_location('scalenet_ckpt_cli_swin', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / 'tiny_scalenet_swin.py'
    path.write_text(CONFIG)
    return path


def images(size: int = 64, seed: int = 1) -> torch.Tensor:
    return torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(seed))


def mm_classifier(depths=(2, 2, 2, 2), seed: int = 0) -> torch.nn.Module:
    """mmpretrain's own Swin classifier (SwinTransformer + GAP + LinearClsHead), randomised."""
    model = MODELS.build(dict(
        type='ImageClassifier',
        backbone=dict(type='SwinTransformer', arch=dict(ARCH, depths=list(depths)), **GEOMETRY,
                      drop_path_rate=0.),
        neck=dict(type='GlobalAveragePooling'),
        head=dict(type='LinearClsHead', num_classes=CLASSES, in_channels=128)))
    return randomize_(model, seed=seed, std=0.1).eval()


def timm_swin(depths=(2, 2, 2, 2), seed: int = 0) -> torch.nn.Module:
    model = timm.models.swin_transformer.SwinTransformer(
        img_size=64, patch_size=2, window_size=4, embed_dim=16, depths=tuple(depths),
        num_heads=(1, 2, 2, 4), num_classes=CLASSES, drop_path_rate=0.)
    return randomize_(model, seed=seed, std=0.1).eval()


def official_from_timm(timm_sd: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """Microsoft's release layout of a timm Swin (patch merging at the end of stage s,
    ``head`` for ``head.fc``)."""
    out = {}
    for key, value in timm_sd.items():
        key = re.sub(r'^layers\.(\d+)\.downsample',
                     lambda m: f'layers.{int(m.group(1)) - 1}.downsample', key)
        out[key.replace('head.fc.', 'head.')] = value
    return out


def cyclic_copy(state_dict: Dict[str, torch.Tensor], pattern: str,
                factor: int = 2) -> Dict[str, torch.Tensor]:
    """The state dict of a plain Swin whose stage ``s`` holds ``factor * d_s`` blocks, block
    ``i`` a copy of the base's block ``i % d_s`` (``pattern``: the block-key prefix with the
    stage and block as groups, e.g. ``r'^(backbone\\.stages\\.\\d+\\.blocks\\.)(\\d+)\\.'``)."""
    depths: Dict[str, int] = {}
    for key in state_dict:
        m = re.match(pattern, key)
        if m:
            depths[m.group(1)] = max(depths.get(m.group(1), 0), int(m.group(2)) + 1)
    out = {}
    for key, value in state_dict.items():
        m = re.match(pattern, key)
        if not m:
            out[key] = value
            continue
        stage, block = m.group(1), int(m.group(2))
        for i in range(block, factor * depths[stage], depths[stage]):
            out[f'{stage}{i}.' + key[m.end():]] = value
    return out


def _expanded_logits(cli: ModuleType, config: Path, expanded: Path) -> torch.Tensor:
    model = cli._build_model(str(config), None)
    model.load_state_dict(torch.load(expanded, weights_only=True)['state_dict'], strict=True)
    model.eval()
    lora_b = [v for k, v in model.state_dict().items() if k.endswith('lora_B')]
    assert lora_b and all(torch.count_nonzero(b) == 0 for b in lora_b)
    with torch.no_grad():
        return model(images(), mode='tensor')


def test_expanded_mmpretrain_swin_equals_the_plain_swin_of_copied_blocks(
        cli: ModuleType, config: Path, tmp_path: Path) -> None:
    base = mm_classifier()
    torch.save({'state_dict': base.state_dict(), 'meta': {}}, tmp_path / 'base.pth')
    out = cli.main(['expand', str(config), str(tmp_path / 'base.pth'),
                    str(tmp_path / 'expanded.pth')])
    payload = torch.load(out, weights_only=True)
    assert payload['meta']['base_layout'] == 'swin-mmpretrain'
    assert any('carried the classifier head over' in n for n in payload['meta']['notes'])
    # each shared block once: 2 per stage, 4 instances per stage
    keys = list(payload['state_dict'])
    assert not any(re.match(r'backbone\.stages\.\d+\.blocks\.[2-9]\.', k) for k in keys)
    assert 'backbone.stages.3.instances.3.ln2.weight' in keys

    plain = mm_classifier(depths=(4, 4, 4, 4), seed=5)  # other weights, all replaced below
    plain.load_state_dict(cyclic_copy(base.state_dict(),
                                      r'^(backbone\.stages\.\d+\.blocks\.)(\d+)\.'), strict=True)
    with torch.no_grad():
        expected = plain(images(), mode='tensor')
        assert max_diff(expected, base(images(), mode='tensor')) > 1e-3  # 2x is another net
    assert max_diff(_expanded_logits(cli, config, Path(out)), expected) < ATOL


@pytest.mark.parametrize('layout', ['swin-timm', 'swin-official'])
def test_expanded_timm_and_release_swin_equal_timms_swin_of_copied_blocks(
        cli: ModuleType, config: Path, tmp_path: Path, layout: str) -> None:
    base = timm_swin()
    weights = base.state_dict()
    if layout == 'swin-official':
        weights = official_from_timm(weights)
    torch.save({'model': weights}, tmp_path / 'base.pth')
    out = cli.main(['expand', str(config), str(tmp_path / 'base.pth'),
                    str(tmp_path / 'expanded.pth')])
    payload = torch.load(out, weights_only=True)
    assert payload['meta']['base_layout'] == layout
    assert any('carried the classifier head over' in n for n in payload['meta']['notes'])

    plain = timm_swin(depths=(4, 4, 4, 4), seed=5)
    plain.load_state_dict(cyclic_copy(base.state_dict(), r'^(layers\.\d+\.blocks\.)(\d+)\.'),
                          strict=True)
    with torch.no_grad():
        expected = plain(images())
    assert max_diff(_expanded_logits(cli, config, Path(out)), expected) < ATOL


def test_expand_then_export_gives_a_stock_swin_with_the_same_logits(
        cli: ModuleType, config: Path, tmp_path: Path) -> None:
    torch.save({'model': timm_swin().state_dict()}, tmp_path / 'base.pth')
    expanded = cli.main(['expand', str(config), str(tmp_path / 'base.pth'),
                         str(tmp_path / 'expanded.pth')])
    gen = torch.Generator().manual_seed(3)  # "trained": LoRA B and everything else non-zero
    trained = {k: v + torch.randn(v.shape, generator=gen) * 0.02 if v.is_floating_point() else v
               for k, v in torch.load(expanded, weights_only=True)['state_dict'].items()}
    torch.save({'state_dict': trained, 'meta': {}}, tmp_path / 'trained.pth')
    model = cli._build_model(str(config), None)
    model.load_state_dict(trained, strict=True)
    model.eval()
    out = cli.main(['export', str(config), str(tmp_path / 'trained.pth'),
                    str(tmp_path / 'plain_timm.pth'), '--layout', 'timm'])
    payload = torch.load(out, weights_only=True)
    assert payload['meta']['plain_backbone']['arch']['depths'] == [4, 4, 4, 4]
    plain = timm_swin(depths=(4, 4, 4, 4), seed=5)
    plain.load_state_dict(payload['model'], strict=True)
    with torch.no_grad():
        assert max_diff(model(images(), mode='tensor'), plain(images())) < ATOL


def test_expand_refuses_a_depth_that_is_not_whole_instances_per_stage(
        cli: ModuleType, config: Path, tmp_path: Path) -> None:
    torch.save({'model': timm_swin().state_dict()}, tmp_path / 'base.pth')
    with pytest.raises(ValueError, match=r'2\.5 layer instances in stage 0.*whole number'):
        cli.main(['expand', str(config), str(tmp_path / 'base.pth'), str(tmp_path / 'out.pth'),
                  '--cfg-options', 'model.backbone.depth=1.25'])
    assert not (tmp_path / 'out.pth').exists()


@pytest.mark.parametrize('base, message', [
    (lambda: timm_swin(depths=(2, 2, 4, 2)).state_dict(),
     r'\[2, 2, 4, 2\] pretrained blocks per stage'),
    (lambda: timm_small_vit(num_classes=CLASSES).state_dict(),
     r'is a ViT checkpoint.*nothing was loaded'),
])
def test_expand_refuses_a_base_of_other_blocks_or_family_and_writes_nothing(
        cli: ModuleType, config: Path, tmp_path: Path, base, message: str) -> None:
    torch.save({'model': base()}, tmp_path / 'base.pth')
    with pytest.raises(CheckpointMismatchError, match=message):
        cli.main(['expand', str(config), str(tmp_path / 'base.pth'), str(tmp_path / 'out.pth')])
    assert not (tmp_path / 'out.pth').exists()


def test_expand_into_a_bare_backbone_and_a_detector(tmp_path: Path) -> None:
    """The function on a bare ScaleNetSwin and on a Mask R-CNN with one (backbone filled,
    the classifier head of the base noted as not carried)."""
    from mmdet.registry import MODELS as DET_MODELS
    from mmdet.utils import register_all_modules
    base = timm_swin()
    bare = MODELS.build(dict(type='ScaleNetSwin', arch=ARCH, **GEOMETRY, depth=2.0,
                             adapter=dict(type='lora', rank=2), drop_path_rate=0.))
    state, report = expand_checkpoint({'model': base.state_dict()}, bare)
    assert report.source_format == 'swin-timm'
    assert torch.equal(state['stages.2.blocks.1.attn.w_msa.qkv.weight'],
                       base.layers[2].blocks[1].attn.qkv.weight)

    register_all_modules(init_default_scope=False)
    with DefaultScope.overwrite_default_scope('mmdet'):
        detector = _tiny_detector(DET_MODELS)
        state, report = expand_checkpoint({'model': base.state_dict()}, detector)
    assert torch.equal(state['backbone.stages.0.blocks.0.attn.w_msa.qkv.weight'],
                       base.layers[0].blocks[0].attn.qkv.weight)
    assert any('not carried' in n for n in report.notes)


def _tiny_detector(registry) -> torch.nn.Module:
    """A Mask R-CNN skeleton with a 2x ScaleNetSwin backbone, an FPN and an RPN (no RoI head)."""
    return registry.build(ConfigDict(
        type='MaskRCNN',
        data_preprocessor=dict(type='DetDataPreprocessor'),
        backbone=dict(type='ScaleNetSwin', arch=ARCH, patch_size=2, window_size=4, depth=2.0,
                      out_indices=(0, 1, 2, 3), pad_small_map=True),
        neck=dict(type='FPN', in_channels=[16, 32, 64, 128], out_channels=16, num_outs=5),
        rpn_head=dict(type='RPNHead', in_channels=16, feat_channels=16,
                      anchor_generator=dict(type='AnchorGenerator', scales=[8], ratios=[1.0],
                                            strides=[4, 8, 16, 32, 64]),
                      bbox_coder=dict(type='DeltaXYWHBBoxCoder')),
        roi_head=None, train_cfg=None,
        test_cfg=dict(rpn=dict(nms_pre=100, max_per_img=10,
                               nms=dict(type='nms', iou_threshold=0.7)))))


def test_convert_refuses_a_swin_checkpoint_and_writes_nothing(cli: ModuleType,
                                                             tmp_path: Path) -> None:
    """``convert`` rewrites ViT layouts only; a Swin is pointed to expand / export."""
    torch.save({'model': timm_swin().state_dict()}, tmp_path / 'swin.pth')
    with pytest.raises(SystemExit, match=r'Swin checkpoint \(swin-timm\).*"expand"'):
        cli.main(['convert', str(tmp_path / 'swin.pth'), str(tmp_path / 'o.pth'),
                  '--to', 'mmpretrain'])
    assert not (tmp_path / 'o.pth').exists()
