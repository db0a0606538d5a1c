"""experiments/det_fashion_mnist.py (issue 17): a reduced run produces every field, the plot and
the pictures through tools/train.py and tools/test.py, reuses its finished runs, and the arms'
configs differ only where the arms do; the planning, log reading and claims on their own.
No test asserts an mAP or a time."""
import json
import os.path as osp
import subprocess
import sys
from pathlib import Path

import pytest

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
if REPO not in sys.path:
    sys.path.insert(0, REPO)

from experiments.det_evidence.logs import METRIC_KEYS, read_map_curve  # noqa: E402
from experiments.det_evidence.plan import (ARMS, ARMS_BY_NAME, PRETRAIN_KEYS,  # noqa: E402
                                           DetSettings, det_sizes, global_attention,
                                           plan_runs, pretrain_options)
from experiments.det_evidence.report import check_claims, claim_lines  # noqa: E402

TINY = ['--seeds', '0', '--iters', '2', '--evals', '1', '--num-train', '8', '--num-val', '4',
        '--curve-val', '2', '--pretrain-size', '256', '--pretrain-epochs', '1', '--layers', '2',
        '--embed-dims', '32', '--num-heads', '2', '--ffn', '64', '--neck', '32', '--jobs', '2',
        '--threads', '1']
FIELDS = ('bbox_mAP', 'bbox_mAP_50', 'segm_mAP', 'segm_mAP_50', 'train_wall_s', 'test_wall_s',
          'curve', 'params', 'pictures', 'test', 'config', 'checkpoint')


@pytest.mark.slow
def test_a_reduced_run_writes_every_field_the_plot_and_the_pictures(tmp_path: Path) -> None:
    from mmengine.config import Config

    work = tmp_path / 'det'
    command = [sys.executable, osp.join(REPO, 'experiments', 'det_fashion_mnist.py'),
               '--work-dir', str(work), *TINY]
    proc = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    results = json.loads((work / 'results.json').read_text())
    runs = results['runs']
    assert set(runs) == {'pretrain_seed0'} | {f'{a.name}_seed0' for a in ARMS}
    assert all(r['status'] == 'ok' for r in runs.values()), runs
    published = runs['pretrain_seed0']['published']
    assert osp.isfile(published) and runs['pretrain_seed0']['val_top1_curve']
    for arm in ARMS:
        result = runs[f'{arm.name}_seed0']
        missing = [f for f in FIELDS if f not in result]
        assert not missing, (arm.name, missing)
        assert set(result['test']['metrics']) >= set(METRIC_KEYS) or \
            not result['test']['any_detection']
        assert [p['iter'] for p in result['curve']] == [2]
        assert result['params']['backbone'] > 0
        assert len(result['pictures']) == 4  # every val canvas drawn by --show-dir
        assert all(Path(p).read_bytes()[:8] == b'\x89PNG\r\n\x1a\n' for p in result['pictures'])
        assert f'| {arm.label} |' in (work / 'results.md').read_text()
    for name in ('map_curve.png', 'predictions.png'):
        assert (work / name).read_bytes()[:4] == b'\x89PNG'
    assert set(results['summary']) == {a.name for a in ARMS}

    # the arms differ where they should and share data, schedule and size
    cfgs = {a.name: Config.fromfile(runs[f'{a.name}_seed0']['config']) for a in ARMS}
    for cfg in cfgs.values():
        assert cfg.train_cfg.max_iters == 2 and cfg.train_dataloader.batch_size == 4
        assert cfg.image_size == (128, 128)
        assert cfg.train_dataloader.dataset.ann_file == 'annotations/instances_train.json'
        assert cfg.test_dataloader.dataset.ann_file == 'annotations/instances_val.json'
    vit_l, scalenet = cfgs['vit_L'].model.backbone, cfgs['scalenet_2x'].model.backbone
    scratch, resnet = cfgs['vit_2L_scratch'].model.backbone, cfgs['resnet18_scratch'].model.backbone
    assert (vit_l.arch.num_layers, vit_l.depth, vit_l.adapter) == (2, 2, None)
    assert (scalenet.arch.num_layers, scalenet.depth, scalenet.adapter.rank) == (2, 4, 4)
    assert (scratch.arch.num_layers, scratch.depth, scratch.init_cfg) == (4, 4, None)
    for backbone in (vit_l, scalenet):
        assert backbone.init_cfg == dict(type='Pretrained', checkpoint=published,
                                         prefix='backbone.')
        assert backbone.patch_size == 8 and backbone.in_channels == 1
    assert scalenet.global_attn_indexes == (1, 3) and scalenet.window_size == 4
    assert (resnet.type, resnet.depth, resnet.init_cfg, resnet.in_channels) == \
        ('ResNet', 18, None, 1)

    # a second invocation reuses every finished run
    again = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    assert again.stdout.count('] reused: ') == len(runs)
    assert json.loads((work / 'results.json').read_text())['runs'] == runs


def test_plan_pretrains_once_per_seed_and_only_pretrained_arms_wait(tmp_path: Path) -> None:
    runs = plan_runs(DetSettings(seeds=(0, 1)), str(tmp_path))
    assert [r.name for r in runs[:2]] == ['pretrain_seed0', 'pretrain_seed1']
    deps = {r.name: r.depends_on for r in runs}
    assert deps['scalenet_2x_seed1'] == deps['vit_L_seed1'] == 'pretrain_seed1'
    assert deps['vit_2L_scratch_seed0'] is None and deps['resnet18_scratch_seed0'] is None
    scratch_only = plan_runs(DetSettings(seeds=(0, )), str(tmp_path),
                             (ARMS_BY_NAME['resnet18_scratch'], ))
    assert [r.name for r in scratch_only] == ['resnet18_scratch_seed0']


def test_arm_sizes_follow_the_arms() -> None:
    s = DetSettings(layers=4)
    a = det_sizes(s, ARMS_BY_NAME['vit_L'], 0, 'w.pth')
    b = det_sizes(s, ARMS_BY_NAME['scalenet_2x'], 0, 'w.pth')
    c = det_sizes(s, ARMS_BY_NAME['vit_2L_scratch'], 0, None)
    d = det_sizes(s, ARMS_BY_NAME['resnet18_scratch'], 0, None)
    assert (a.num_layers, a.instances, a.global_attn) == (4, 4, (1, 3))
    assert (b.num_layers, b.instances, b.global_attn) == (4, 8, (3, 7))
    assert (c.num_layers, c.instances, c.pretrained) == (8, 8, None)
    assert a.layer_decay == b.layer_decay == s.layer_decay and c.layer_decay == 1.0
    assert d.backbone == 'resnet'
    assert len({(x.max_iters, x.batch, x.image, x.lr, x.lr_drop) for x in (a, b, c, d)}) == 1
    assert global_attention(24) == (11, 23)


@pytest.mark.parametrize('kwargs, message', [
    (dict(image=100), 'image=100'), (dict(pretrain_side=42), 'pretrain_side=42'),
    (dict(embed_dims=30, num_heads=3), 'embed_dims=30'), (dict(evals=5, iters=4), 'evals=5'),
    (dict(seeds=()), 'seed'), (dict(layers=1), 'layers=1'),
    (dict(pretrain_readout='gap'), "pretrain_readout='gap'"),
    (dict(pos_embed_transfer='drop'), "pos_embed_transfer='drop'"),
])
def test_impossible_settings_are_refused(kwargs, message) -> None:
    with pytest.raises(ValueError, match=message):
        DetSettings(**kwargs).validate()


def test_the_pretrain_readout_switches_the_class_token_and_keeps_earlier_runs_valid() -> None:
    import torch
    from mmengine.config import Config
    from mmpretrain.registry import MODELS

    import scalenet_mm  # noqa: F401  (registers ScaleNetViT)

    default, gap = DetSettings(), DetSettings(pretrain_readout='avg_featmap')
    assert 'model.backbone.out_type' not in pretrain_options(default, 0, 'root')
    options = pretrain_options(gap, 0, 'root')
    # the options build a classifier whose head reads the mean patch token, without class token
    cfg = Config.fromfile(osp.join(REPO, 'configs', 'cls', 'fashion_mnist',
                                   'vit_det_pretrain_fmnist.py'))
    cfg.merge_from_dict(options)
    classifier = MODELS.build(cfg.model)
    assert classifier.backbone.cls_token is None
    assert classifier.backbone.pos_embed.shape[1] == (gap.pretrain_side // gap.patch)**2
    logits = classifier(torch.zeros(2, 1, gap.pretrain_side, gap.pretrain_side), mode='tensor')
    assert logits.shape == (2, 10)
    # a new readout trains new classifiers and detectors; the default one reuses older runs,
    # whose fingerprints were taken before the setting existed
    assert gap.fingerprint(PRETRAIN_KEYS) != default.fingerprint(PRETRAIN_KEYS)
    assert gap.fingerprint() != default.fingerprint()
    older_keys = tuple(k for k in PRETRAIN_KEYS if k != 'pretrain_readout')
    assert default.fingerprint(PRETRAIN_KEYS) == default.fingerprint(older_keys)


def test_zero_pos_embed_zeroes_only_the_position_embedding(tmp_path: Path) -> None:
    import torch

    from experiments.det_evidence.execute import zero_pos_embed

    state = {'backbone.pos_embed': torch.randn(1, 26, 8),
             'backbone.cls_token': torch.randn(1, 1, 8),
             'backbone.layers.0.ln1.weight': torch.randn(8)}
    published = tmp_path / 'classifier.pth'
    torch.save({'state_dict': state, 'meta': {}}, published)
    out = zero_pos_embed(str(published), str(tmp_path / 'run' / 'zero.pth'))
    written = torch.load(out, weights_only=True)['state_dict']
    assert sorted(written) == sorted(state)
    assert not written['backbone.pos_embed'].any()
    assert written['backbone.pos_embed'].shape == state['backbone.pos_embed'].shape
    for key in ('backbone.cls_token', 'backbone.layers.0.ln1.weight'):
        assert torch.equal(written[key], state[key])
    assert DetSettings(pos_embed_transfer='zero').fingerprint() != DetSettings().fingerprint()

    torch.save({'state_dict': {'backbone.norm.weight': torch.ones(8)}}, tmp_path / 'swin.pth')
    with pytest.raises(KeyError, match='0 position embeddings'):
        zero_pos_embed(str(tmp_path / 'swin.pth'), str(tmp_path / 'never.pth'))
    assert not (tmp_path / 'never.pth').exists()


def test_the_curve_places_evaluations_at_their_iterations(tmp_path: Path) -> None:
    def write(run: str, records) -> None:
        path = tmp_path / run / 'vis_data' / 'scalars.json'
        path.parent.mkdir(parents=True)
        path.write_text('\n'.join(json.dumps(r) for r in records) + '\n')

    val = {k: 0.5 for k in METRIC_KEYS}
    write('20260101_000000', [dict(iter=10, loss=1.0, lr=1e-4), dict(val, step=0),
                              dict(iter=20, loss=0.9, lr=1e-4), dict(step=0)])  # no detection
    write('20260101_000001', [dict(iter=28, loss=0.8, lr=1e-4), dict(val, step=0)])  # resumed
    curve = read_map_curve(str(tmp_path), val_interval=10, max_iters=25)
    assert [p['iter'] for p in curve] == [10, 20, 25]
    assert curve[1]['coco/segm_mAP'] == 0.0 and curve[2]['coco/bbox_mAP'] == 0.5


def test_claims_compare_beyond_the_seed_spread() -> None:
    def arm(mean, std, n=2):
        return {'segm_mAP': dict(mean=mean, std=std, n=n), 'bbox_mAP': dict(mean=mean, std=std,
                                                                             n=n)}
    claims = check_claims(dict(vit_L=arm(0.10, 0.01), scalenet_2x=arm(0.15, 0.02),
                               resnet18_scratch=arm(0.30, 0.01)))
    assert claims['scalenet_minus_base_segm_mAP']['holds'] is True
    assert claims['scalenet_over_reference_segm_mAP'] == pytest.approx(0.5)
    close = check_claims(dict(vit_L=arm(0.10, 0.03), scalenet_2x=arm(0.12, 0.03)))
    assert close['scalenet_minus_base_bbox_mAP']['holds'] is False
    one_seed = check_claims(dict(vit_L=arm(0.1, 0.0, 1), scalenet_2x=arm(0.2, 0.0, 1)))
    assert one_seed['scalenet_minus_base_segm_mAP']['holds'] is False


def test_claim_lines_state_each_verdict_and_number() -> None:
    def arm(mean, std):
        return {k: dict(mean=mean, std=std, n=2) for k in ('segm_mAP', 'bbox_mAP')}
    holds = claim_lines(check_claims(dict(vit_L=arm(0.10, 0.01), scalenet_2x=arm(0.15, 0.02),
                                          resnet18_scratch=arm(0.30, 0.01))))
    assert any('segm_mAP: holds: difference +0.050 (seed spread 0.030)' in line
               for line in holds)
    assert any('reaches 0.50 of the segm_mAP of (d)' in line for line in holds)
    below = claim_lines(check_claims(dict(vit_L=arm(0.30, 0.01), scalenet_2x=arm(0.28, 0.01))))
    assert len(below) == 2 and all('DOES NOT HOLD: difference -0.020' in line for line in below)
    within = claim_lines(check_claims(dict(vit_L=arm(0.30, 0.02), scalenet_2x=arm(0.31, 0.02))))
    assert all('holds in the mean only' in line for line in within)
