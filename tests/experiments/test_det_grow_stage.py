"""The detection experiment's grow stage (``--grow-epochs``, issue 17): the paper's order for
downstream tasks, where the ScaleNet backbone is grown and trained as a classifier before the
detector fine-tunes it, with the base trained as long without growing as its control. The
planning, the stages' options and the configs they resolve to; the reduced run of the whole
experiment is in test_det_fashion_mnist.py."""
import os.path as osp
import sys
from pathlib import Path

import pytest

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
if REPO not in sys.path:
    sys.path.insert(0, REPO)

from experiments.det_evidence.plan import (ARMS, ARMS_BY_NAME, STAGE_CONFIGS,  # noqa: E402
                                           DetSettings, global_attention, plan_runs,
                                           pretrain_keys, stage_keys, stage_options)
from experiments.det_evidence.report import check_claims  # noqa: E402


def test_with_grow_epochs_b_and_the_control_start_from_their_stages(tmp_path: Path) -> None:
    settings = DetSettings(seeds=(0, 1), grow_epochs=2)
    arms = ARMS + (ARMS_BY_NAME['vit_L_continued'], )
    runs = {r.name: r for r in plan_runs(settings, str(tmp_path), arms)}
    for seed in (0, 1):
        assert runs[f'grow_seed{seed}'].depends_on == f'pretrain_seed{seed}'
        assert runs[f'continue_seed{seed}'].depends_on == f'pretrain_seed{seed}'
        assert (runs[f'grow_seed{seed}'].stage, runs[f'continue_seed{seed}'].stage) == (
            'grow', 'continue')
        assert runs[f'scalenet_2x_seed{seed}'].depends_on == f'grow_seed{seed}'
        assert runs[f'vit_L_continued_seed{seed}'].depends_on == f'continue_seed{seed}'
        assert runs[f'vit_L_seed{seed}'].depends_on == f'pretrain_seed{seed}'
    # classifiers first, each after what it loads
    order = list(runs)
    assert order.index('grow_seed1') < order.index('vit_L_seed0')
    # without the control arm, no continue stage; without grow epochs, (b) loads the base
    names = [r.name for r in plan_runs(settings, str(tmp_path), ARMS)]
    assert 'grow_seed0' in names and 'continue_seed0' not in names
    plain = {r.name: r for r in plan_runs(DetSettings(seeds=(0, )), str(tmp_path), ARMS)}
    assert 'grow_seed0' not in plain
    assert plain['scalenet_2x_seed0'].depends_on == 'pretrain_seed0'
    with pytest.raises(ValueError, match='grow_epochs > 0'):
        plan_runs(DetSettings(seeds=(0, )), str(tmp_path), (ARMS_BY_NAME['vit_L_continued'], ))
    with pytest.raises(ValueError, match='grow_epochs=-1'):
        DetSettings(grow_epochs=-1).validate()


def test_stage_options_resolve_to_the_grown_and_the_continued_classifier() -> None:
    import torch
    from mmengine.config import Config
    from mmpretrain.registry import MODELS

    import scalenet_mm  # noqa: F401  (registers ScaleNetViT)

    settings = DetSettings(layers=2, embed_dims=32, num_heads=2, feedforward_channels=64,
                           pretrain_input='canvas', pretrain_side=64, grow_epochs=2,
                           lora_rank=3)
    built = {}
    for stage in ('grow', 'continue'):
        options = stage_options(settings, 0, '/data', stage, '/base/vit_L.pth')
        assert options['train_cfg.max_epochs'] == 2
        assert options['model.backbone.init_cfg.checkpoint'] == '/base/vit_L.pth'
        assert options['model.head.init_cfg.checkpoint'] == '/base/vit_L.pth'
        cfg = Config.fromfile(STAGE_CONFIGS[stage])
        cfg.merge_from_dict(options)
        assert cfg.model.backbone.init_cfg.prefix == 'backbone.'
        assert cfg.model.head.init_cfg.prefix == 'head.'
        cfg.model.backbone.init_cfg = None
        cfg.model.head.init_cfg = None
        built[stage] = MODELS.build(cfg.model)
        assert built[stage](torch.zeros(2, 1, 64, 64), mode='tensor').shape == (2, 10)
    grown, continued = built['grow'].backbone, built['continue'].backbone
    assert len(grown.instances) == 4 and len(grown.layers) == 2
    assert {n.split('.')[1] for n, _ in grown.named_parameters() if '.lora_A' in n} == {
        '0', '1', '2', '3'}
    assert grown.instances[0].lora['qkv'].rank == 3
    # the grown classifier has the detector (b)'s attention layout, the control (a)'s
    assert [i.window_size == 0 for i in grown.instances] == [
        i in global_attention(4) for i in range(4)]
    assert [i.window_size == 0 for i in continued.instances] == [
        i in global_attention(2) for i in range(2)]
    assert len(continued.instances) == 2 and not any(
        '.lora_' in n for n, _ in continued.named_parameters())


def test_the_stages_keys_and_earlier_fingerprints() -> None:
    default, grown = DetSettings(), DetSettings(grow_epochs=2)
    assert set(stage_keys(grown)) == set(pretrain_keys(grown)) | {'grow_epochs', 'lora_rank'}
    # the base classifier does not depend on the grow stage: it is reused when one is added
    assert grown.fingerprint(pretrain_keys(grown)) == default.fingerprint(pretrain_keys(default))
    assert grown.fingerprint() != default.fingerprint()
    older = DetSettings().fingerprint(tuple(k for k in DetSettings.__dataclass_fields__
                                            if k not in ('grow_epochs', 'seeds')))
    assert default.fingerprint() == older


def _metric(mean: float, std: float, n: int = 2):
    return dict(mean=mean, std=std, n=n)


def test_claims_include_the_control_of_the_grow_stage_when_it_ran() -> None:
    summary = {name: dict(segm_mAP=_metric(*values), bbox_mAP=_metric(*values))
               for name, values in (('vit_L', (0.30, 0.01)), ('scalenet_2x', (0.36, 0.01)),
                                    ('vit_L_continued', (0.35, 0.01)))}
    claims = check_claims(summary)
    assert claims['scalenet_minus_base_segm_mAP']['holds'] is True
    continued = claims['scalenet_minus_continued_segm_mAP']
    assert continued['difference'] == pytest.approx(0.01) and continued['holds'] is False
    del summary['vit_L_continued']
    assert 'scalenet_minus_continued_segm_mAP' not in check_claims(summary)


def test_arms_that_load_no_stage_keep_their_fingerprint_when_grow_epochs_change(
        tmp_path: Path) -> None:
    from experiments.det_evidence.execute import Data, DetExecutor

    fingerprints = {}
    for grow_epochs in (0, 2):
        settings = DetSettings(seeds=(0, ), grow_epochs=grow_epochs)
        runs = plan_runs(settings, str(tmp_path), ARMS)
        executor = DetExecutor(runs, settings, Data(None, None, None, 'fmnist'))
        fingerprints[grow_epochs] = {r.name: executor._fingerprint(r) for r in runs}
    for name in ('pretrain_seed0', 'vit_L_seed0', 'vit_2L_scratch_seed0',
                 'resnet18_scratch_seed0'):
        assert fingerprints[0][name] == fingerprints[2][name], name
    assert fingerprints[0]['scalenet_2x_seed0'] != fingerprints[2]['scalenet_2x_seed0']


def test_the_regime_check_compares_depth_from_scratch_when_both_arms_ran() -> None:
    from experiments.det_evidence.report import claim_lines

    summary = {name: dict(segm_mAP=_metric(*values), bbox_mAP=_metric(*values))
               for name, values in (('vit_L_scratch', (0.334, 0.017)),
                                    ('vit_2L_scratch', (0.319, 0.005)))}
    claims = check_claims(summary)
    assert claims['depth_helps_segm_mAP']['difference'] == pytest.approx(-0.015)
    assert claims['depth_helps_segm_mAP']['holds'] is False
    line = [text for text in claim_lines(claims) if text.startswith('regime')][0]
    assert 'DOES NOT HOLD' in line and '-0.015' in line


@pytest.mark.slow
def test_a_reduced_run_with_canvas_pretraining_and_the_grow_stage(tmp_path: Path) -> None:
    """The whole command at tiny size with ``--pretrain-input canvas --grow-epochs 1``: the
    classifier stages run in order, (b) loads the grown classifier with its LoRA tensors, the
    control loads the continued one, and the report has the control's claim."""
    import json
    import subprocess

    from mmengine.config import Config

    work = tmp_path / 'det'
    tiny = ['--seeds', '0', '--iters', '2', '--evals', '1', '--num-train', '8', '--num-val', '4',
            '--curve-val', '2', '--pretrain-size', '256', '--pretrain-epochs', '1',
            '--layers', '2', '--embed-dims', '32', '--num-heads', '2', '--ffn', '64',
            '--neck', '32', '--jobs', '2', '--threads', '1']
    command = [sys.executable, osp.join(REPO, 'experiments', 'det_fashion_mnist.py'),
               '--work-dir', str(work), *tiny, '--arms', 'vit_L', 'scalenet_2x',
               'vit_L_continued', '--pretrain-input', 'canvas', '--pretrain-side', '32',
               '--grow-epochs', '1']
    proc = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    results = json.loads((work / 'results.json').read_text())
    runs = results['runs']
    assert set(runs) == {'pretrain_seed0', 'grow_seed0', 'continue_seed0', 'vit_L_seed0',
                         'scalenet_2x_seed0', 'vit_L_continued_seed0'}
    assert all(r['status'] == 'ok' for r in runs.values()), runs
    # the canvases are the classifiers' data, 32 px
    canvas_root = work / 'data' / 'canvas_32'
    assert (canvas_root / 'train-images-idx3-ubyte').stat().st_size == 16 + 256 * 32 * 32
    loads = {}
    for arm, stage in (('vit_L', 'pretrain'), ('scalenet_2x', 'grow'),
                       ('vit_L_continued', 'continue')):
        cfg = Config.fromfile(runs[f'{arm}_seed0']['config'])
        assert cfg.model.backbone.init_cfg.checkpoint == runs[f'{stage}_seed0']['published']
        loads[arm] = (work / 'runs' / f'{arm}_seed0' / 'train.out').read_text()
    # (b) takes the trained ScaleNet classifier whole: no LoRA tensor starts at its init
    report_lines = loads['scalenet_2x'].split('scalenet layout')[1].splitlines()[:4]
    used = [line for line in report_lines if line.strip().startswith('used:')]
    missing = [line for line in report_lines if line.strip().startswith('missing:')]
    assert used and 'lora.qkv.lora_A' in used[0] and 'lora.fc2.lora_B' in used[0]
    assert not any('lora' in line for line in missing)
    assert 'mmpretrain layout' in loads['vit_L_continued']
    report = (work / 'results.md').read_text()
    assert "(b) ScaleNet 2x beats (a+)" in report


def test_the_command_refuses_the_control_without_grow_epochs_before_writing(
        tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from experiments.det_fashion_mnist import main

    work = tmp_path / 'det'
    assert main(['--work-dir', str(work), '--arms', 'vit_L', 'vit_L_continued']) == 2
    error = capsys.readouterr().err
    assert "['vit_L_continued']" in error and 'needs grow_epochs > 0 (--grow-epochs N)' in error
    assert not work.exists()  # nothing generated, no work dir
