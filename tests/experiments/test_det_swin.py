"""The Swin arms of the Fashion-MNIST detection check (issue 18): (e) a small plain Swin Mask
R-CNN and (f) its ScaleNet 2x, both from a Swin pretrained as a Fashion-MNIST classifier.

Planned: named only (the default ViT experiment is unchanged), they wait for the seed's Swin
pretraining, not the ViT one. Written: their reduced configs build the classifier's backbone
(the pretrained tensors load into it; the plain arm runs each block once without adapters) and
every ScaleNet config, ViT or Swin, states its LoRA rank itself, so ``tools/test.py`` builds the
model ``tools/train.py`` trained. Run (slow): both arms through
``experiments/det_fashion_mnist.py`` at the smoke size, every result field present."""
import json
import os.path as osp
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from mmengine.config import Config

from experiments.det_evidence.plan import (ALL_ARMS, ARMS, ARMS_BY_NAME, REPO_ROOT, SWIN_ARMS,
                                           DetSettings, config_extra, det_options, det_sizes,
                                           plan_runs)
from experiments.det_evidence import swin
from experiments.det_fashion_mnist import parse_args
from scalenet_mm.datasets.fashion_mnist import DEBIAN_DIR, find_source
from scalenet_mm.testing import FASHION_CLASSES, write_reduced_mask_rcnn_config
from scalenet_mm.testing.coco_shapes import CocoShapesSplit

HAVE_DATA = find_source([DEBIAN_DIR]) is not None
TINY = ['--seeds', '0', '--iters', '2', '--evals', '1', '--num-train', '8', '--num-val', '4',
        '--curve-val', '2', '--pretrain-size', '256', '--pretrain-epochs', '1', '--jobs', '2',
        '--threads', '1']
FIELDS = ('bbox_mAP', 'bbox_mAP_50', 'segm_mAP', 'segm_mAP_50', 'train_wall_s', 'test_wall_s',
          'curve', 'params', 'pictures', 'test', 'config', 'checkpoint')


def test_swin_arms_are_named_not_default():
    assert parse_args([]).arms == [a.name for a in ARMS]
    assert parse_args(['--arms', 'swin', 'scalenet_swin_2x']).arms == ['swin', 'scalenet_swin_2x']
    assert [a.name for a in ALL_ARMS if a not in ARMS] == ['swin', 'scalenet_swin_2x',
                                                          'vit_L_scratch', 'vit_L_continued']


def test_swin_arms_wait_for_the_swin_pretraining():
    runs = plan_runs(DetSettings(seeds=(0, 1)), '/w', SWIN_ARMS)
    assert [r.name for r in runs[:2]] == ['swin_pretrain_seed0', 'swin_pretrain_seed1']
    assert all(r.backbone == 'swin' for r in runs)
    deps = {r.name: r.depends_on for r in runs}
    assert deps['swin_seed1'] == deps['scalenet_swin_2x_seed1'] == 'swin_pretrain_seed1'
    # every arm, the grow stage's control included (it needs grow epochs)
    both = plan_runs(DetSettings(seeds=(0, ), grow_epochs=1), '/w', ALL_ARMS)
    assert [r.name for r in both[:2]] == ['pretrain_seed0', 'swin_pretrain_seed0']
    deps = {r.name: r.depends_on for r in both}
    assert deps['vit_L_seed0'] == 'pretrain_seed0' and deps['swin_seed0'] == 'swin_pretrain_seed0'
    assert deps['scalenet_swin_2x_seed0'] == 'swin_pretrain_seed0'  # no Swin grow stage


def _written(tmp_path: Path, settings: DetSettings, name: str) -> Config:
    split = CocoShapesSplit(str(tmp_path), 'annotations/a.json', 'images', 1, 1)
    arm = ARMS_BY_NAME[name]
    base = arm.base_config if arm.base_config.startswith('mmdet::') else \
        osp.join(REPO_ROOT, arm.base_config)
    path = write_reduced_mask_rcnn_config(
        str(tmp_path / f'{name}.py'), base, split, split, FASHION_CLASSES,
        det_sizes(settings, arm, 0, 'w.pth' if arm.pretrained else None),
        config_extra(settings, arm))
    return Config.fromfile(path)


def test_written_configs_build_the_classifier_backbone_and_state_the_rank(tmp_path):
    settings = DetSettings(lora_rank=3)
    cfgs = {name: _written(tmp_path, settings, name)
            for name in ('swin', 'scalenet_swin_2x', 'scalenet_2x', 'vit_L')}
    sizes = swin.backbone_sizes()
    plain, grown = cfgs['swin'].model.backbone, cfgs['scalenet_swin_2x'].model.backbone
    for backbone in (plain, grown):
        assert backbone.type == 'ScaleNetSwin'
        assert (backbone.arch.embed_dims, tuple(backbone.arch.depths),
                tuple(backbone.arch.num_heads)) == (sizes['embed_dims'], sizes['depths'],
                                                    sizes['num_heads'])
        assert (backbone.patch_size, backbone.window_size, backbone.in_channels) == \
            (sizes['patch_size'], sizes['window_size'], 1)
        assert backbone.init_cfg == dict(type='Pretrained', checkpoint='w.pth',
                                         prefix='backbone.')
    assert (plain.depth, plain.adapter) == (1.0, None)
    assert grown.depth == 2.0 and grown.adapter.rank == 3 and grown.adapter.type == 'lora'
    # the ViT ScaleNet arm's rank is in its config too (tools/test.py passes no options)
    assert cfgs['scalenet_2x'].model.backbone.adapter.rank == 3
    assert cfgs['vit_L'].model.backbone.adapter is None
    assert 'model.backbone.adapter.rank' not in det_options(settings, ARMS_BY_NAME['scalenet_2x'],
                                                            CocoShapesSplit('/d', 'a', 'i', 1, 1))
    # the same data, schedule, heads and optimizer as the ViT arms; no layer decay
    for key in ('train_cfg', 'param_scheduler', 'train_dataloader', 'image_size'):
        assert cfgs['swin'][key] == cfgs['scalenet_swin_2x'][key], key
    assert cfgs['swin'].train_cfg.max_iters == cfgs['vit_L'].train_cfg.max_iters == settings.iters
    assert cfgs['swin'].optim_wrapper.optimizer.lr == settings.lr
    assert 'layer_decay_rate' not in cfgs['swin'].optim_wrapper.get('paramwise_cfg', {})
    assert cfgs['swin'].model.neck.in_channels == [sizes['embed_dims'] * 2**s for s in range(4)]


def test_the_swin_classifier_loads_into_both_detection_backbones(tmp_path):
    from mmdet.registry import MODELS as DET_MODELS
    from mmpretrain.registry import MODELS as CLS_MODELS
    from mmengine.registry import DefaultScope

    from scalenet_mm.checkpoint import load_pretrained, save_atomic

    cfg = Config.fromfile(swin.SWIN_PRETRAIN_CONFIG)
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        classifier = CLS_MODELS.build(cfg.model)
    classifier.init_weights()
    with torch.no_grad():
        classifier(torch.randn(2, 1, 40, 40), mode='tensor')  # the pretraining input
    checkpoint = str(tmp_path / 'swin.pth')
    save_atomic(dict(state_dict=classifier.state_dict(), meta={}), checkpoint)
    backbone_keys = {k[len('backbone.'):] for k in classifier.state_dict()
                     if k.startswith('backbone.') and 'relative_position_index' not in k}
    for name in ('swin', 'scalenet_swin_2x'):
        det_backbone = _written(tmp_path, DetSettings(), name).model.backbone.to_dict()
        det_backbone['init_cfg'] = None
        with DefaultScope.overwrite_default_scope('mmdet'):
            model = DET_MODELS.build(det_backbone)
        report = load_pretrained(model, checkpoint)  # refuses other widths or blocks loudly
        assert backbone_keys <= set(report.loaded_keys), name
        assert not [k for k in report.missing_keys if 'instances' not in k and
                    not k.startswith(('norm0', 'norm1', 'norm2'))], name
        with torch.no_grad():
            outs = model(torch.randn(1, 1, 128, 128))
        assert [o.shape[1] for o in outs] == [32, 64, 128, 256]


@pytest.mark.slow
@pytest.mark.timeout(900)
@pytest.mark.skipif(not HAVE_DATA, reason='needs the Debian package dataset-fashion-mnist')
def test_a_reduced_run_of_the_swin_arms_writes_every_field(tmp_path):
    work = tmp_path / 'det'
    command = [sys.executable, osp.join(REPO_ROOT, 'experiments', 'det_fashion_mnist.py'),
               '--work-dir', str(work), *TINY, '--arms', 'swin', 'scalenet_swin_2x']
    proc = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=850)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    results = json.loads((work / 'results.json').read_text())
    runs = results['runs']
    assert set(runs) == {'swin_pretrain_seed0', 'swin_seed0', 'scalenet_swin_2x_seed0'}
    assert all(r['status'] == 'ok' for r in runs.values()), runs
    pretrain = runs['swin_pretrain_seed0']
    assert pretrain['arm'] == 'swin_pretrain' and pretrain['val_top1_curve']
    published = pretrain['published']
    assert osp.isfile(published) and osp.basename(published).startswith('swin-')
    for arm in SWIN_ARMS:
        result = runs[f'{arm.name}_seed0']
        missing = [f for f in FIELDS if f not in result]
        assert not missing, (arm.name, missing)
        assert [p['iter'] for p in result['curve']] == [2]
        assert result['params']['backbone'] > 0 and len(result['pictures']) == 4
        backbone = Config.fromfile(result['config']).model.backbone
        assert backbone.init_cfg.checkpoint == published
        assert f'| {arm.label} |' in (work / 'results.md').read_text()
        assert 'Loaded ' in Path(result['log']).read_text()  # the classifier's blocks
    params = {a.name: runs[f'{a.name}_seed0']['params']['backbone'] for a in SWIN_ARMS}
    assert params['scalenet_swin_2x'] > params['swin']  # shared blocks once, plus LoRA
    assert set(results['summary']) == {'swin', 'scalenet_swin_2x'}
    assert 'swin_scalenet_minus_base_segm_mAP' in results['claims']
    for name in ('map_curve.png', 'predictions.png'):
        assert (work / name).read_bytes()[:4] == b'\x89PNG'


def test_the_diagnosis_arm_is_arm_a_without_its_pretraining(tmp_path):
    settings = DetSettings()
    pretrained, scratch = (_written(tmp_path, settings, name) for name in ('vit_L', 'vit_L_scratch'))
    assert pretrained.model.backbone.init_cfg['checkpoint'] == 'w.pth'
    assert scratch.model.backbone.get('init_cfg') is None
    assert pretrained.optim_wrapper.paramwise_cfg.layer_decay_rate == settings.layer_decay
    assert scratch.optim_wrapper.paramwise_cfg.layer_decay_rate == 1.0
    same = dict(pretrained.model.backbone, init_cfg=None)
    assert dict(scratch.model.backbone, init_cfg=None) == same
    assert scratch.model.roi_head == pretrained.model.roi_head
    assert scratch.train_dataloader == pretrained.train_dataloader
