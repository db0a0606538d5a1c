"""The Swin Mask R-CNN configs (ScaleNet Swin-T 2x and mmdet's plain Swin-T baseline) inherit
mmdet's own Swin-T config, build a working detector at reduced size (training forward/backward
with a gradient for every trainable tensor, inference at the original image size) and are
listed in the metafile with their measured full-size parameter counts. Reduced by the one
writer of reduced det configs (``backbone='swin'``), they run through the project's tools on
the generated COCO shapes set: tools/train.py, tools/test.py with pycocotools bbox and segm
mAP, and tools/dist_train.sh on 2 CPU processes (gloo DDP) with activation checkpointing."""
import os
import re
from pathlib import Path
from unittest import mock

import numpy as np
import pytest
import torch
import yaml
from mmdet.structures import DetDataSample
from mmdet.testing import demo_mm_inputs
from mmengine.config import Config, ConfigDict
from mmengine.utils import get_installed_path

import scalenet_mm  # noqa: F401
from scalenet_mm.models.backbones import ScaleNetSwin

from det_helpers import DET_CONFIGS, assert_one_training_step, write_reduced_swin_det_config
from scalenet_mm.testing import SHAPE_CLASSES, ReducedDetSizes, write_reduced_mask_rcnn_config

SWIN_DET_CONFIGS = ['mask_rcnn_scalenet_swin_t2x.py', 'mask_rcnn_swin_t.py']
MMDET_BASE = (f'{get_installed_path("mmdet")}/.mim/configs/swin/'
              'mask-rcnn_swin-t-p4-w7_fpn_1x_coco.py')


def _load(name: str) -> Config:
    return Config.fromfile(str(DET_CONFIGS / name))


def _reduce(cfg: Config) -> ConfigDict:
    """Swin widths 16..128, 2 blocks per stage, window 4, nothing downloaded, 64-ch FPN."""
    model = cfg.model.to_dict()
    backbone = model['backbone']
    small = dict(window_size=4, drop_path_rate=0.1, init_cfg=None)
    if backbone['type'] == 'ScaleNetSwin':
        backbone.update(arch=dict(embed_dims=16, depths=[2, 2, 2, 2], num_heads=[1, 2, 2, 4]),
                        **small)
    else:
        backbone.update(embed_dims=16, depths=[2, 2, 2, 2], num_heads=[1, 2, 2, 4],
                        convert_weights=False, **small)
    model['neck'].update(in_channels=[16, 32, 64, 128], out_channels=64)
    model['rpn_head'].update(in_channels=64, feat_channels=64)
    roi = model['roi_head']
    roi['bbox_roi_extractor']['out_channels'] = 64
    roi['bbox_head'].update(in_channels=64, fc_out_channels=64, num_classes=3)
    roi['mask_roi_extractor']['out_channels'] = 64
    roi['mask_head'].update(in_channels=64, conv_out_channels=64, num_classes=3)
    return ConfigDict(model)


def _plain(value):
    """A config value without the ``_scope_`` keys mmengine adds to an ``mmdet::`` base."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items() if k != '_scope_'}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def test_configs_inherit_mmdets_swin_t_mask_rcnn() -> None:
    base = Config.fromfile(MMDET_BASE)
    for name in SWIN_DET_CONFIGS:
        cfg = _load(name)
        assert cfg.custom_imports == dict(imports=['scalenet_mm'], allow_failed_imports=False)
        assert cfg.model.neck.in_channels == [96, 192, 384, 768]
        for key in ('optim_wrapper', 'param_scheduler', 'train_cfg', 'train_dataloader'):
            assert _plain(cfg[key]) == _plain(base[key]), key
    scalenet = _load('mask_rcnn_scalenet_swin_t2x.py').model.backbone
    assert scalenet.type == 'ScaleNetSwin' and (scalenet.arch, scalenet.depth) == ('tiny', 2.0)
    assert scalenet.out_indices == (0, 1, 2, 3) and scalenet.pad_small_map
    assert scalenet.init_cfg.checkpoint == base.model.backbone.init_cfg.checkpoint
    assert _plain(_load('mask_rcnn_swin_t.py').model) == _plain(base.model)


@pytest.mark.parametrize('name', SWIN_DET_CONFIGS)
def test_reduced_config_trains_and_infers(name: str) -> None:
    from mmdet.registry import MODELS
    torch.manual_seed(0)
    model = MODELS.build(_reduce(_load(name)))
    model.init_weights()
    if name == 'mask_rcnn_scalenet_swin_t2x.py':
        assert isinstance(model.backbone, ScaleNetSwin) and model.backbone.depths == [4, 4, 4, 4]
    assert_one_training_step(model)

    model.eval()  # 100x150: padded to 128x160 (32 divisor); stage maps 25x38 .. 4x5 vs window 4
    packed = demo_mm_inputs(1, image_shapes=[(3, 100, 150)], num_items=[1], num_classes=3,
                            with_mask=True)
    with torch.no_grad():
        results = model(**model.data_preprocessor(packed, False), mode='predict')
    assert len(results) == 1 and isinstance(results[0], DetDataSample)
    pred = results[0].pred_instances
    assert pred.bboxes.shape[1] == 4 and pred.masks.shape[1:] == (100, 150)


def _full_size_params(name: str) -> int:
    from mmdet.registry import MODELS
    cfg = _load(name)
    cfg.model.backbone.init_cfg = None
    linspace = torch.linspace  # mmdet's Swin calls linspace(...).item(): CPU, not meta
    with torch.device('meta'), mock.patch.object(
            torch, 'linspace', lambda *a, **k: linspace(*a, **dict(k, device='cpu'))):
        model = MODELS.build(cfg.model)
    return sum(p.numel() for p in model.parameters())


def test_metafile_lists_the_swin_configs_with_measured_params() -> None:
    with open(DET_CONFIGS / 'metafile.yml', encoding='utf-8') as f:
        by_config = {m['Config'].split('/')[-1]: m for m in yaml.safe_load(f)['Models']}
    for name in SWIN_DET_CONFIGS:
        entry = by_config[name]
        assert entry['Metadata']['Parameters'] == _full_size_params(name), name
        assert entry['Metadata']['Batch Size'] == '8xb2'
        assert entry['Weights'] is None and entry['Results'] is None


# ---------------------------------------------------------------- reduced configs and the tools
SCALENET_SWIN = 'mask_rcnn_scalenet_swin_t2x.py'
ITERS = 4
_LOSS = re.compile(r'Iter\(train\) \[\s*\d+/\d+\].*? loss: (\S+)')


@pytest.mark.parametrize('name', SWIN_DET_CONFIGS)
def test_reduced_swin_config_keeps_the_shipped_backbone_and_recipe(tmp_path: Path, shapes_data,
                                                                    name: str) -> None:
    path = write_reduced_swin_det_config(tmp_path / 'reduced.py', name, shapes_data,
                                         max_iters=6, with_cp=True)
    cfg, shipped = Config.fromfile(str(path)), _load(name)
    backbone = cfg.model.backbone
    assert backbone.type == shipped.model.backbone.type
    if backbone.type == 'ScaleNetSwin':
        assert backbone.arch == dict(embed_dims=16, depths=[2, 2, 2, 2], num_heads=[1, 2, 4, 8])
        for key in ('depth', 'layer_map', 'adapter', 'out_indices', 'pad_small_map'):
            assert backbone[key] == shipped.model.backbone[key], key
    else:
        assert (backbone.embed_dims, backbone.depths, backbone.num_heads) == (
            16, [2, 2, 2, 2], [1, 2, 4, 8])
        assert backbone.convert_weights is False
    assert backbone.window_size == 4 and backbone.with_cp is True and backbone.init_cfg is None
    assert cfg.model.neck.type == 'FPN' and cfg.model.neck.in_channels == [16, 32, 64, 128]
    assert cfg.model.roi_head.mask_head.num_classes == len(SHAPE_CLASSES)
    # mmdet's Swin recipe (AdamW, no decay on norms / rel-pos tables) at the tests' lr, counted
    # in iterations instead of its 12 epochs
    assert cfg.optim_wrapper.optimizer.type == 'AdamW' and cfg.optim_wrapper.optimizer.lr == 1e-4
    assert _plain(cfg.optim_wrapper.paramwise_cfg) == _plain(shipped.optim_wrapper.paramwise_cfg)
    assert cfg.train_cfg.type == 'IterBasedTrainLoop' and cfg.train_cfg.max_iters == 6
    assert all(not s.by_epoch for s in cfg.param_scheduler)
    assert cfg.default_hooks.checkpoint.by_epoch is False


@pytest.mark.parametrize('config, sizes, message', [
    ('mask_rcnn_scalenet_b2x.py', ReducedDetSizes(backbone='swin'), 'needs a Swin config'),
    (SCALENET_SWIN, ReducedDetSizes(backbone='swin', layer_decay=0.8), 'layer_decay'),
    (SCALENET_SWIN, ReducedDetSizes(backbone='swin', shared_depth='last'), 'shared_depth'),
    (SCALENET_SWIN, ReducedDetSizes(backbone='swin', dims=18, swin_heads=(4, 4, 4, 4)),
     'stage 0 is 18 wide'),
    (SCALENET_SWIN, ReducedDetSizes(backbone='swin', swin_depths=(2, 2, 2)), 'one entry per'),
    ('mask_rcnn_swin_t.py', ReducedDetSizes(backbone='swin', pretrained='x.pth'), 'pretrained'),
])
def test_a_reduced_swin_config_that_cannot_work_is_refused(tmp_path: Path, shapes_data, config,
                                                           sizes, message) -> None:
    with pytest.raises(ValueError, match=message):
        write_reduced_mask_rcnn_config(str(tmp_path / 'reduced.py'), str(DET_CONFIGS / config),
                                       shapes_data['train'], shapes_data['val'], SHAPE_CLASSES,
                                       sizes)
    assert not (tmp_path / 'reduced.py').exists()


def _losses(log: str) -> list:
    return [float(v) for v in _LOSS.findall(log)]


@pytest.fixture(scope='module')
def trained_swin_det(tmp_path_factory: pytest.TempPathFactory, shapes_data, run_tool) -> dict:
    """A work dir where tools/train.py trained the reduced ScaleNet Swin-T 2x Mask R-CNN."""
    root = tmp_path_factory.mktemp('swin_det_train')
    config = write_reduced_swin_det_config(root / 'det_swin_t2x_tiny.py', SCALENET_SWIN,
                                           shapes_data, max_iters=ITERS)
    work_dir = root / 'work'
    proc = run_tool(['tools/train.py', config, '--work-dir', work_dir], timeout=600)
    checkpoint = work_dir / f'iter_{ITERS}.pth'
    assert checkpoint.is_file(), sorted(os.listdir(work_dir))
    return dict(config=config, checkpoint=checkpoint, log=proc.stdout)


@pytest.mark.slow
def test_train_tool_trains_the_scalenet_swin_mask_rcnn(trained_swin_det) -> None:
    log = trained_swin_det['log']
    losses = _losses(log)
    assert len(losses) == ITERS and all(np.isfinite(losses)), losses
    for key in ('loss_rpn_cls', 'loss_rpn_bbox', 'loss_cls', 'loss_bbox', 'loss_mask'):
        assert key in log
    # the checkpoint holds each shared block once and the 4 instances' LoRA of every stage
    state = torch.load(trained_swin_det['checkpoint'], map_location='cpu',
                       weights_only=False)['state_dict']
    for s in range(4):
        assert f'backbone.stages.{s}.blocks.1.attn.w_msa.qkv.weight' in state
        assert f'backbone.stages.{s}.blocks.2.attn.w_msa.qkv.weight' not in state
        assert f'backbone.stages.{s}.instances.3.lora.fc2.lora_B' in state
        assert f'backbone.stages.{s}.instances.4.lora.fc2.lora_B' not in state


@pytest.mark.slow
def test_test_tool_evaluates_the_swin_checkpoint_with_coco_metrics(trained_swin_det, run_tool,
                                                                   tmp_path: Path) -> None:
    proc = run_tool(['tools/test.py', trained_swin_det['config'], trained_swin_det['checkpoint'],
                     '--work-dir', tmp_path / 'work',
                     '--trust-checkpoint', trained_swin_det['checkpoint']], timeout=600)
    out = proc.stdout
    assert 'Evaluate annotation type *bbox*' in out and 'Evaluate annotation type *segm*' in out
    for metric in ('coco/bbox_mAP', 'coco/segm_mAP', 'coco/bbox_mAP_50', 'coco/segm_mAP_50'):
        match = re.search(re.escape(metric) + r': (-?[\d.]+)', out)
        assert match, metric
        assert 0.0 <= float(match.group(1)) <= 1.0


@pytest.mark.slow
def test_train_tool_trains_the_plain_swin_baseline(shapes_data, run_tool, tmp_path: Path) -> None:
    config = write_reduced_swin_det_config(tmp_path / 'det_swin_t_tiny.py', 'mask_rcnn_swin_t.py',
                                           shapes_data, max_iters=2)
    proc = run_tool(['tools/train.py', config, '--work-dir', tmp_path / 'work'], timeout=600)
    losses = _losses(proc.stdout)
    assert len(losses) == 2 and all(np.isfinite(losses)), losses
    assert (tmp_path / 'work' / 'iter_2.pth').is_file()


@pytest.mark.slow
@pytest.mark.skipif(torch.cuda.is_available(), reason='checks the CPU (gloo) path')
def test_dist_train_swin_two_cpu_processes_with_checkpointing(shapes_data, run_tool, repo_root,
                                                              unused_port, tmp_path: Path) -> None:
    hook = ("custom_imports = dict(imports=['scalenet_mm', 'rank_state_hook'], "
            "allow_failed_imports=False)\ncustom_hooks = [dict(type='RankStateHook')]\n")
    config = write_reduced_swin_det_config(tmp_path / 'det_swin_dist.py', SCALENET_SWIN,
                                           shapes_data, max_iters=2, with_cp=True, extra=hook)
    work_dir = tmp_path / 'work'
    proc = run_tool(['bash', 'tools/dist_train.sh', config, '2', '--work-dir', work_dir],
                    env=dict(PORT=str(unused_port)), pythonpath=[repo_root / 'tests/data/plugins'],
                    timeout=600)
    out = proc.stdout
    assert 'marked as ready twice' not in out and 'Expected to mark a variable' not in out
    assert (work_dir / 'iter_2.pth').is_file()
    losses = _losses(out)
    assert len(losses) == 2 and all(np.isfinite(losses)), losses
    logged = [f for f in os.listdir(work_dir) if re.fullmatch(r'\d{8}_\d{6}', f)]
    log_text = open(work_dir / logged[0] / f'{logged[0]}.log').read()
    assert 'Distributed training: True' in log_text and 'GPU number: 2' in log_text
    assert 'with_cp=True' in log_text and 'find_unused_parameters=False' in log_text

    # both ranks trained (gloo DDP, each on its own half of the 8 images) and ended equal
    states = [torch.load(work_dir / f'rank{r}_state.pth', weights_only=False) for r in (0, 1)]
    assert [s['rank'] for s in states] == [0, 1]
    assert all(s['world_size'] == 2 and s['backend'] == 'gloo' for s in states)
    assert all(s['wrapper'] == 'MMDistributedDataParallel' for s in states)
    assert len(states[0]['seen']) == len(states[1]['seen']) == 4  # 2 iters x batch 2
    assert set(states[0]['seen']).isdisjoint(states[1]['seen'])
    final0, final1 = states[0]['state_dict'], states[1]['state_dict']
    for key in final0:
        assert torch.equal(final0[key], final1[key]), f'{key} differs between ranks'
    shared = 'backbone.stages.0.blocks.0.attn.w_msa.qkv.weight'
    assert not torch.equal(final0[shared], states[0]['initial_state_dict'][shared])
