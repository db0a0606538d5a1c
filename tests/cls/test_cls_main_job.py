"""The Fashion-MNIST main job (tools/run_main_job.py) in a reduced form, end to end.

The main job is a preset of the evidence experiment: its runs go through the experiment's
driver (``tools/train.py`` and ``tools/test.py`` subprocesses) with the shipped recipe of
``configs/cls/fashion_mnist``. Tested: every run and the table; a re-run reuses everything; a
changed option retrains only what depends on it; a job killed in the middle of a run resumes
that run from its last epoch. Needs the real Fashion-MNIST files (Debian package
``dataset-fashion-mnist`` or ``data/fashion_mnist``); skipped with the fix otherwise.
"""
import json
import os
import os.path as osp
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import List

import pytest
import torch

from scalenet_mm.datasets import fashion_mnist as fm

REPO = Path(__file__).resolve().parents[2]
SOURCES = [fm.DEBIAN_DIR, str(REPO / 'data' / 'fashion_mnist')]
TINY = ['--layers', '2', '--embed-dims', '32', '--heads', '2', '--lora-rank', '2',
        '--patch-size', '4', '--train-size', '256', '--val-size', '64', '--test-size', '200',
        '--pretrain-epochs', '1', '--scale-epochs', '1', '--batch-size', '64']
#: tools/train.py and tools/test.py of each run, as the job prints them.
TRAIN = 'tools/train.py ' + str(REPO / 'configs' / 'cls' / 'fashion_mnist')
TEST = 'tools/test.py ' + str(REPO / 'configs' / 'cls' / 'fashion_mnist')


def _source() -> str:
    found = [s for s in SOURCES if fm.find_source([s])]
    if not found:
        pytest.skip(f'Fashion-MNIST not found in {SOURCES}; install it with '
                    f'`apt-get install {fm.DEBIAN_PACKAGE}`')
    return found[0]


def _job(work_dir: Path, data_root: Path, extra: List[str] = ()) -> List[str]:
    return [sys.executable, 'tools/run_main_job.py', '--work-dir', str(work_dir),
            '--data-root', str(data_root), '--data-source', _source(), '--no-download',
            *TINY, *extra]


def _rows(work_dir: Path) -> dict:
    results = json.loads((work_dir / 'results.json').read_text())
    return {run['arm']: run for run in results['runs'].values()}


@pytest.mark.slow
def test_main_job_end_to_end_and_rerun(tmp_path: Path, run_tool) -> None:
    work_dir, data_root = tmp_path / 'quickstart', tmp_path / 'fashion_mnist'
    out = run_tool(_job(work_dir, data_root), timeout=900).stdout

    # Every run went through the project's tools, with mmengine's progress logging.
    for config in ('vit_L4_fmnist.py', 'scalenet_2x_fmnist.py', 'vit_L4_continue_fmnist.py',
                   'vit_L8_fmnist.py'):
        assert f'{TRAIN}/{config}' in out and f'{TEST}/{config}' in out
    assert 'Epoch(train) [1][4/4]' in out  # 256 images in batches of 64
    runs = work_dir / 'runs'
    for run in ('pretrain_seed0', 'scalenet_seed0', 'continue_seed0', 'scratch_seed0'):
        assert (runs / run / 'epoch_1.pth').is_file()
        assert list((runs / run).glob('*/*.log'))

    # The base's published weights-only file, from which the grown model started.
    rows = _rows(work_dir)
    published = rows['pretrain']['published']
    state = torch.load(published, weights_only=True)['state_dict']  # no pickle needed
    assert 'backbone.layers.1.attn.qkv.weight' in state and 'head.layers.head.weight' in state
    scale_log = next((runs / 'scalenet_seed0').glob('*/*.log')).read_text()
    assert f'Loaded {published} (mmpretrain layout)' in scale_log
    assert 'load head. in model from' in scale_log

    # The table: tools/test.py's accuracy of each model on the 200 test images, params, times.
    assert set(rows) == {'pretrain', 'scalenet', 'continue', 'scratch'}  # the default arms
    for row in rows.values():
        assert row['test']['images'] == 200
        assert 0.0 <= row['final_top1'] <= 100.0
        assert row['wall_s'] > 0 and row['test']['wall_s'] > 0
    assert rows['pretrain']['params']['total'] == rows['continue']['params']['total']
    # 2 source layers run as 4 instances, rank-2 LoRA on qkv/proj/fc1/fc2 of each:
    # rank * ((32 + 96) + (32 + 32) + (32 + 128) + (128 + 32)) = 2 * 512 per instance.
    assert rows['scalenet']['params']['total'] - rows['pretrain']['params']['total'] == \
        4 * 2 * 512
    table = (work_dir / 'results.md').read_text()
    assert '| layers run (stored) | unique params |' in table
    assert '| 4 (2) | ' in table  # the ScaleNet row
    assert 'first 200 test images' in table and '## Claims' in table
    # it says what one seed and three arms cannot show, and which claims it did not measure
    # it says what one seed cannot show; every protocol claim is measured (the deep model
    # from scratch is a default arm), and each row has the training accuracy
    assert 'What this shows' in table and 'seed spread' in table
    claims = [line for line in table.split('## Claims')[1].splitlines()
              if line.startswith('- ')]
    for paper_says in ('beats the base model it grew from', 'trained as long without growing',
                       'reaches the deep model trained from scratch'):
        line = next(line for line in claims if paper_says in line)
        assert 'not measured' not in line and 'hold' in line.lower()  # a verdict
    for row in rows.values():
        assert 0.0 <= row['train_top1'] <= 100.0
        assert row['train_eval']['images'] == 256  # every trained image (fewer than 10,000)
    assert table in out.replace('\r', '')

    # Re-running with the same options reuses every run.
    again = run_tool(_job(work_dir, data_root), timeout=600).stdout
    assert '[experiment] $' not in again  # no tool was started
    assert again.count('] reused: test top-1') == 4
    assert _rows(work_dir)['scalenet']['final_top1'] == rows['scalenet']['final_top1']


@pytest.mark.slow
def test_changed_options_rerun_only_what_changed(tmp_path: Path, run_tool) -> None:
    """A new LoRA rank retrains the ScaleNet run and keeps the base."""
    work_dir, data_root = tmp_path / 'quickstart', tmp_path / 'fashion_mnist'
    run_tool(_job(work_dir, data_root, ['--no-baseline', '--no-scratch']), timeout=900)
    base = work_dir / 'runs' / 'pretrain_seed0' / 'epoch_1.pth'
    first = osp.getmtime(base)
    out = run_tool(_job(work_dir, data_root,
                        ['--no-baseline', '--no-scratch', '--lora-rank', '1']),
                   timeout=900).stdout
    assert f'{TRAIN}/vit_L4_fmnist.py' not in out
    assert f'{TRAIN}/scalenet_2x_fmnist.py' in out
    assert '[pretrain_seed0] reused' in out
    assert osp.getmtime(base) == first
    rows = _rows(work_dir)
    assert set(rows) == {'pretrain', 'scalenet'}  # --no-baseline --no-scratch
    assert rows['scalenet']['params']['total'] - rows['pretrain']['params']['total'] == \
        4 * 1 * 512  # rank 1


@pytest.mark.slow
def test_a_killed_job_resumes_the_interrupted_run(tmp_path: Path, tool_environment) -> None:
    """SIGKILL of the whole job while the base trains epoch 2 of 3: the next invocation resumes
    that run from epoch 1's checkpoint (mmengine ``--resume``) instead of starting it again."""
    work_dir, data_root = tmp_path / 'quickstart', tmp_path / 'fashion_mnist'
    cmd = [*_job(work_dir, data_root, ['--no-baseline', '--no-scratch']),
           '--pretrain-epochs', '3',
           '--train-size', '2048']
    run_dir = work_dir / 'runs' / 'pretrain_seed0'
    job = subprocess.Popen(cmd, cwd=REPO, env=tool_environment(), stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.time() + 600
        # last_checkpoint is written after the checkpoint it names: resumable from here on
        while not (run_dir / 'last_checkpoint').is_file():
            assert job.poll() is None, 'the job ended before its first checkpoint'
            assert time.time() < deadline, 'no epoch_1.pth within 10 minutes'
            time.sleep(0.2)
        assert not (run_dir / 'epoch_3.pth').is_file()
    finally:
        os.killpg(job.pid, signal.SIGKILL)  # the job and its tools/train.py child
        job.wait()
    assert not (run_dir / 'result.json').exists()

    proc = subprocess.run(cmd, cwd=REPO, env=tool_environment(), capture_output=True,
                          text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert '[pretrain_seed0] resumed' in proc.stdout
    assert '--resume' in proc.stdout
    # the resumed attempt's own log (mmengine makes a timestamped folder per attempt)
    resumed_log = sorted(run_dir.glob('2*/2*.log'))[-1].read_text()
    assert 'Auto resumed from the latest checkpoint' in resumed_log
    assert 'Epoch(train) [1]' not in resumed_log  # epoch 1 was not trained again
    assert 'Epoch(train) [3]' in resumed_log
    result = json.loads((run_dir / 'result.json').read_text())
    assert result['status'] == 'ok'
    # every epoch after the resumed one was validated; epoch 1's own validation may be lost
    # (mmengine saves the checkpoint before it validates, and the kill can fall in between)
    epochs = [e for e, _ in result['curve']]
    assert epochs[-2:] == [2, 3] and epochs == sorted(set(epochs))


def test_main_job_defaults_are_the_evidence_experiments_sizes() -> None:
    """The main job's flags repeat the evidence defaults as literals (importing the driver at
    parse time would cost seconds on --help); its seed-0 runs are the evidence's only while the
    two agree on everything but the seeds and the per-epoch / final test sizes."""
    import runpy
    from dataclasses import asdict

    from experiments.scalenet_evidence import Settings

    job = runpy.run_path(str(REPO / 'tools' / 'run_main_job.py'), run_name='main_job_module')
    settings, arms = job['settings_and_arms'](job['parse_args']([]))
    own = ('seeds', 'val_size', 'test_size')
    assert ({k: v for k, v in asdict(settings).items() if k not in own}
            == {k: v for k, v in asdict(Settings()).items() if k not in own})
    assert [arm.name for arm in arms] == ['pretrain', 'scalenet', 'continue', 'scratch']
