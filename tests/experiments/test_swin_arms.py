"""The Swin arms of the evidence experiment (issue 18): a small Swin on Fashion-MNIST
(``configs/cls/fashion_mnist/swin_fmnist.py``), its ScaleNet 2x and its not-grown control.

Planned: their configs, their own options (no ViT sizes), the dependency on ``swin_pretrain``
(not on the ViT base), not in the default arm list. Built: the three configs with the options
the experiment gives them, the growth arms initialised from a base checkpoint. Run (slow): the
three arms through ``experiments/reproduce_scalenet.py`` at tiny size, every field of their
results filled. No test asserts an accuracy."""
import json
import os.path as osp
import subprocess
import sys

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

from experiments.reproduce_scalenet import parse_args
from experiments.scalenet_evidence.experiment import (ARMS, ARMS_BY_NAME, PRETRAIN, REPO_ROOT,
                                                      SWIN_ARMS, SWIN_PRETRAIN, Settings,
                                                      arm_layers, init_options, plan_runs,
                                                      run_fingerprint)
from experiments.scalenet_evidence.report import (check_claims, markdown_report, markdown_table,
                                                  summarise)
from scalenet_mm.checkpoint import save_atomic
from scalenet_mm.datasets.fashion_mnist import DEBIAN_DIR, find_source

HAVE_DATA = find_source([DEBIAN_DIR]) is not None
SWIN_NAMES = ['swin_pretrain', 'swin_scalenet', 'swin_continue']
VIT_KEYS = ('model.backbone.arch.num_layers', 'model.backbone.arch.embed_dims',
            'model.backbone.patch_size', 'model.head.in_channels')


def test_swin_arms_are_named_not_default():
    args = parse_args([])
    assert args.arms == [arm.name for arm in ARMS]
    assert not set(SWIN_NAMES) & set(args.arms)
    assert parse_args(['--arms', *SWIN_NAMES]).arms == SWIN_NAMES
    assert [arm.name for arm in SWIN_ARMS] == SWIN_NAMES
    assert all(ARMS_BY_NAME[name].family == 'swin' and ARMS_BY_NAME[name].group == 'swin'
               for name in SWIN_NAMES)


def test_plan_gives_the_swin_configs_their_base_and_their_options():
    settings = Settings(pretrain_epochs=9, epochs=3, scale=2.0, lora_rank=5, lr=2e-3,
                        growth_lr=4e-4, batch_size=32, train_size=640, seeds=(0, 1))
    runs = plan_runs(settings, '/w', '/data', arms=(ARMS_BY_NAME['swin_scalenet'],
                                                    ARMS_BY_NAME['swin_continue']))
    # the Swin base is added (not the ViT one) and runs first, once per seed
    assert [r.name for r in runs[:2]] == ['swin_pretrain_seed0', 'swin_pretrain_seed1']
    assert {r.arm.name for r in runs} == set(SWIN_NAMES)
    by_name = {r.name: r for r in runs}
    configs = {'swin_pretrain': 'swin_fmnist.py', 'swin_scalenet': 'scalenet_swin_2x_fmnist.py',
               'swin_continue': 'swin_continue_fmnist.py'}
    for run in runs:
        assert run.config == osp.join(REPO_ROOT, 'configs', 'cls', 'fashion_mnist',
                                      configs[run.arm.name])
        assert osp.isfile(run.config)
        options = run.cfg_options
        assert not [key for key in VIT_KEYS if key in options], run.name
        assert options['randomness.seed'] == run.seed
        assert options['train_dataloader.batch_size'] == 32
        assert options['train_dataloader.dataset.indices'] == 640
        assert options['train_dataloader.dataset.data_root'] == '/data'
        if run.arm.name == 'swin_pretrain':
            assert run.depends_on is None
            assert options['train_cfg.max_epochs'] == 9
            assert options['optim_wrapper.optimizer.lr'] == 2e-3
        else:
            assert by_name[run.depends_on].arm is SWIN_PRETRAIN
            assert by_name[run.depends_on].seed == run.seed
            assert options['train_cfg.max_epochs'] == 3
            assert options['optim_wrapper.optimizer.lr'] == 4e-4
    grown, control = by_name['swin_scalenet_seed0'].cfg_options, \
        by_name['swin_continue_seed0'].cfg_options
    assert grown['model.backbone.depth'] == 2.0 and grown['model.backbone.adapter.rank'] == 5
    assert 'model.backbone.depth' not in control and 'model.backbone.adapter.rank' not in control
    # blocks run (stored) over both stages of 2 blocks
    assert arm_layers(ARMS_BY_NAME['swin_scalenet'], settings) == (8, 4)
    assert arm_layers(SWIN_PRETRAIN, settings) == (4, 4)

    # with ViT arms: each growth arm waits for its own family's base
    mixed = plan_runs(Settings(seeds=(0, )), '/w', '/d',
                      arms=(ARMS_BY_NAME['scalenet'], ARMS_BY_NAME['swin_scalenet']))
    assert [r.name for r in mixed[:2]] == ['pretrain_seed0', 'swin_pretrain_seed0']
    deps = {r.name: r.depends_on for r in mixed}
    assert deps['scalenet_seed0'] == 'pretrain_seed0'
    assert deps['swin_scalenet_seed0'] == 'swin_pretrain_seed0'


def test_a_scale_that_splits_a_swin_stage_is_refused():
    with pytest.raises(ValueError, match=r'scale=1.25 cannot grow the Swin'):
        plan_runs(Settings(scale=1.25, seeds=(0, )), '/w', '/d', arms=SWIN_ARMS)
    runs = plan_runs(Settings(scale=3.0, seeds=(0, )), '/w', '/d', arms=SWIN_ARMS)
    assert runs[1].cfg_options['model.backbone.depth'] == 3.0


def test_swin_fingerprints_ignore_the_vit_sizes():
    base, grown = SWIN_PRETRAIN, ARMS_BY_NAME['swin_scalenet']
    for arm in (base, grown):
        assert run_fingerprint(Settings(embed_dims=64, layers=4, patch_size=7), arm) == \
            run_fingerprint(Settings(embed_dims=32, layers=6, patch_size=4), arm)
        assert run_fingerprint(Settings(train_size=100), arm) != \
            run_fingerprint(Settings(train_size=200), arm)
    assert run_fingerprint(Settings(growth_lr=1e-4), base) == \
        run_fingerprint(Settings(growth_lr=2e-4), base)
    assert run_fingerprint(Settings(growth_lr=1e-4), grown) != \
        run_fingerprint(Settings(growth_lr=2e-4), grown)
    # the ViT arms keep Settings.fingerprint
    assert run_fingerprint(Settings(), PRETRAIN) == Settings().fingerprint(PRETRAIN)


def _build(name: str, options):
    from mmpretrain.registry import MODELS

    cfg = Config.fromfile(osp.join(REPO_ROOT, ARMS_BY_NAME[name].config))
    cfg.merge_from_dict(options)
    init_default_scope('mmpretrain')
    model = MODELS.build(cfg.model)
    model.init_weights()
    return model.eval()


def test_growth_configs_start_from_the_base_checkpoint(tmp_path):
    settings = Settings(seeds=(0, ))
    runs = {r.arm.name: r for r in plan_runs(settings, str(tmp_path), '/unused', SWIN_ARMS)}
    torch.manual_seed(0)
    base = _build('swin_pretrain', runs['swin_pretrain'].cfg_options)
    assert base.backbone.depths == [2, 2] and base.backbone.adapter_cfg is None
    with torch.no_grad():
        for param in base.parameters():
            param.add_(0.05 * torch.randn_like(param))
    checkpoint = str(tmp_path / 'swin.pth')
    save_atomic(dict(state_dict=base.state_dict(), meta=dict()), checkpoint)

    images = torch.randn(3, 1, 28, 28)
    with torch.no_grad():
        expected = base(images, mode='tensor')
    models = {name: _build(name, {**runs[name].cfg_options, **init_options(checkpoint)})
              for name in ('swin_continue', 'swin_scalenet')}
    control, grown = models['swin_continue'], models['swin_scalenet']
    with torch.no_grad():
        assert torch.allclose(control(images, mode='tensor'), expected, atol=1e-5)
        assert grown(images, mode='tensor').shape == expected.shape
    assert grown.backbone.depths == [4, 4]
    assert grown.backbone.layer_maps == [[0, 1, 0, 1], [0, 1, 0, 1]]
    # every tensor of the base (shared blocks, embedding, merging, norm, head) is the base's
    grown_state = grown.state_dict()
    for key, value in base.state_dict().items():
        if 'relative_position_index' in key:
            continue
        assert torch.equal(grown_state[key], value), key
    lora_b = [v for k, v in grown_state.items() if k.endswith('lora_B')]
    assert lora_b and all(not v.any() for v in lora_b)
    assert grown.backbone.count_parameters()['per_instance'] > 0


def _results(top1):
    results = {}
    for name, value in top1.items():
        arm = ARMS_BY_NAME[name]
        params = {'swin_scalenet': 1200, 'pretrain': 500}.get(name, 1000)
        results[f'{name}_seed0'] = dict(
            run=f'{name}_seed0', arm=name, seed=0, status='ok', final_top1=value,
            train_top1=value + 1, curve=[(1, value)], wall_s=10.0,
            cpu_s=5.0 if arm.init == 'scratch' else 3.0, params=dict(total=params))
    return results


def test_report_compares_the_swin_arms_with_their_own_base():
    settings = Settings(seeds=(0, ))
    summaries = summarise(_results({'swin_pretrain': 70.0, 'swin_scalenet': 72.0,
                                    'swin_continue': 71.0}), settings,
                          arms=SWIN_ARMS)
    claims = check_claims(summaries)
    assert [c['better'] + '-' + c['worse'] for c in claims] == \
        ['swin_scalenet-swin_pretrain', 'swin_scalenet-swin_continue']
    assert all(c['holds'] for c in claims)
    rows = markdown_table(summaries).splitlines()[2:]
    grown = [c.strip() for c in rows[1].strip('|').split('|')]
    assert grown[5] == '8 (4)' and grown[7] == '+200 (+20.0%)'  # vs the Swin base's 1,000
    assert grown[10] == '8'  # 3 s of CPU + the Swin base's 5 s
    report = markdown_report(summaries, settings, 'cmd')
    assert '## Regime' not in report and 'Swin arms: the Swin of' in report
    assert 'L=4 -> 8 layers' not in report

    # with ViT arms in the same invocation, each compares with its own base
    both = summarise(_results({'pretrain': 80.0, 'scalenet': 81.0, 'swin_pretrain': 70.0,
                               'swin_scalenet': 72.0}), settings,
                     arms=(ARMS_BY_NAME['pretrain'], ARMS_BY_NAME['scalenet'], *SWIN_ARMS))
    names = [(c['better'], c['worse']) for c in check_claims(both)]
    assert ('scalenet', 'pretrain') in names and ('swin_scalenet', 'swin_pretrain') in names
    rows = {line.split('|')[1].strip(): [c.strip() for c in line.strip('|').split('|')]
            for line in markdown_table(both).splitlines()[2:]}
    assert rows[ARMS_BY_NAME['swin_scalenet'].label][7] == '+200 (+20.0%)'
    assert rows[ARMS_BY_NAME['scalenet'].label][7] == '+500 (+100.0%)'
    assert '## Regime' in markdown_report(both, settings, 'cmd')


@pytest.mark.slow
@pytest.mark.timeout(1200)
@pytest.mark.skipif(not HAVE_DATA, reason='needs the Debian package dataset-fashion-mnist')
def test_tiny_run_of_the_swin_arms_through_reproduce_scalenet(tmp_path):
    work = tmp_path / 'evidence'
    cmd = [sys.executable, osp.join(REPO_ROOT, 'experiments', 'reproduce_scalenet.py'),
           '--work-dir', str(work), '--seeds', '0', '--train-size', '64', '--val-size', '64',
           '--test-size', '64', '--train-eval-size', '64', '--pretrain-epochs', '1',
           '--epochs', '1', '--batch-size', '32', '--arms', *SWIN_NAMES]
    proc = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=1100)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    results = json.loads((work / 'results.json').read_text())
    runs = results['runs']
    assert set(runs) == {f'{name}_seed0' for name in SWIN_NAMES}
    for run in runs.values():
        assert run['status'] == 'ok', run
        assert [e for e, _ in run['curve']] == [1]
        assert run['test']['images'] == 64 and run['train_eval']['images'] == 64
        assert run['final_top1'] == run['test']['metrics']['accuracy/top1']
        assert run['train_top1'] is not None
        assert run['params']['total'] > 0 and run['wall_s'] > 0 and run['cpu_s'] > 0
        assert 'model.backbone.arch.num_layers' not in run['cfg_options']
    published = runs['swin_pretrain_seed0']['published']
    assert osp.basename(osp.realpath(published)).startswith('swin-')
    for name in ('swin_scalenet', 'swin_continue'):
        assert runs[f'{name}_seed0']['cfg_options']['model.backbone.init_cfg.checkpoint'] == \
            published
    params = {r['arm']: r['params'] for r in runs.values()}
    assert params['swin_continue']['total'] == params['swin_pretrain']['total']
    assert params['swin_scalenet']['total'] > params['swin_pretrain']['total']
    assert params['swin_scalenet']['per_instance'] > 0
    claims = {(c['better'], c['worse']): c for c in results['claims']}
    assert set(claims) == {('swin_scalenet', 'swin_pretrain'), ('swin_scalenet', 'swin_continue')}
    assert all(c['holds'] is not None for c in claims.values())
    table = (work / 'results.md').read_text()
    for name in SWIN_NAMES:
        assert f'| {ARMS_BY_NAME[name].label} |' in table
    assert (work / 'accuracy.png').read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
