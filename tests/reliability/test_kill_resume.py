"""Kill-safe training, end to end: ``tools/train.py`` on the tiny ScaleNet classifier is
SIGKILLed mid-iteration (between backward and step), mid-validation and while a checkpoint
is being written, resumed with ``--resume`` each time, and ends with exactly the weights of
an uninterrupted run (same seed, CPU, one thread: bitwise equal, no tolerance)."""
import os
import os.path as osp
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Dict, List

import pytest
import torch

HERE = Path(__file__).resolve().parent
MAX_ITERS = 12
#: Checkpoints every 3 iterations, keeping only one (the case mmengine's own hook gets wrong:
#: it deletes the kept checkpoint before writing the next), validation every 6, drop-path on
#: (torch's generator) and RandomFlip (numpy's, in the main process).
RUN_CFG = f"""
custom_imports = dict(imports=['scalenet_mm', 'kill_points'], allow_failed_imports=False)
model = dict(backbone=dict(drop_path_rate=0.2))
train_cfg = dict(max_iters={MAX_ITERS}, val_interval=6)
default_hooks = dict(checkpoint=dict(interval=3, max_keep_ckpts=1),
                     logger=dict(interval=3))
"""
MARKER_TIMEOUT_S = 300
TRAIN_TIMEOUT_S = 300


class Trainer:
    """Starts ``tools/train.py`` subprocesses on one config family, all logging to ``log``."""

    def __init__(self, repo_root: Path, writer: Callable[..., Path], env: Callable[..., Dict],
                 data_root: Path, log: Path) -> None:
        self.repo_root, self.writer, self.env = repo_root, writer, env
        self.data_root, self.log = data_root, log

    def config(self, path: Path, pauses: List[dict]) -> Path:
        return self.writer(path, self.data_root, RUN_CFG + f'custom_hooks = {pauses!r}\n')

    def start(self, config: Path, work_dir: Path, resume: bool) -> subprocess.Popen:
        args = [sys.executable, 'tools/train.py', str(config), '--work-dir', str(work_dir)]
        if resume:
            args.append('--resume')
        with open(self.log, 'a') as out:
            return subprocess.Popen(args, cwd=self.repo_root, env=self.env(pythonpath=[HERE]),
                                    stdout=out, stderr=subprocess.STDOUT)


def kill_at_marker(proc: subprocess.Popen, marker: Path, log: Path) -> None:
    """Wait (bounded) until the run reaches its pause point, then SIGKILL it."""
    deadline = time.monotonic() + MARKER_TIMEOUT_S
    try:
        while not marker.exists():
            if proc.poll() is not None:
                pytest.fail(f'training exited with {proc.returncode} before reaching '
                            f'{marker.name}:\n{log.read_text()[-5000:]}')
            if time.monotonic() > deadline:
                pytest.fail(f'{marker.name} not reached in {MARKER_TIMEOUT_S} s:\n'
                            f'{log.read_text()[-5000:]}')
            time.sleep(0.2)
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(timeout=60) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=60)


def finish(proc: subprocess.Popen, log: Path) -> None:
    try:
        code = proc.wait(timeout=TRAIN_TIMEOUT_S)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=60)
    assert code == 0, log.read_text()[-5000:]


def pointed_checkpoint(work_dir: Path) -> Dict:
    """Load what ``last_checkpoint`` names: it must be a complete checkpoint."""
    target = (work_dir / 'last_checkpoint').read_text()
    assert osp.dirname(target) == str(work_dir)
    return torch.load(target, map_location='cpu', weights_only=False)


def names(work_dir: Path) -> List[str]:
    return sorted(n for n in os.listdir(work_dir) if n.endswith('.pth') or '.tmp-' in n)


@pytest.mark.slow
def test_sigkill_at_any_point_then_resume_matches_uninterrupted_run(
        tmp_path, tiny_imagefolder, repo_root, cls_config_writer, tool_environment):
    log = tmp_path / 'train.log'
    trainer = Trainer(repo_root, cls_config_writer, tool_environment, tiny_imagefolder, log)
    reference_dir, work_dir = tmp_path / 'uninterrupted', tmp_path / 'killed'
    reference_cfg = trainer.config(tmp_path / 'reference.py', [])
    finish(trainer.start(reference_cfg, reference_dir, resume=False), log)
    reference = torch.load(reference_dir / f'iter_{MAX_ITERS}.pth', map_location='cpu',
                           weights_only=False)['state_dict']

    markers = {point: tmp_path / f'paused_{point}' for point in ('step', 'val', 'save')}
    pauses = [dict(type='PauseAt', point='step', at=5, marker=str(markers['step'])),
              dict(type='PauseAt', point='val', at=6, marker=str(markers['val'])),
              dict(type='PauseAt', point='save', at=9, marker=str(markers['save']))]
    config = trainer.config(tmp_path / 'killed.py', pauses)

    # 1. Killed during iteration 5, after backward, before the optimizer step.
    kill_at_marker(trainer.start(config, work_dir, resume=False), markers['step'], log)
    assert names(work_dir) == ['iter_3.pth']
    assert pointed_checkpoint(work_dir)['meta']['iter'] == 3

    # 2. Resumed from iter_3, killed inside the validation that follows iteration 6.
    kill_at_marker(trainer.start(config, work_dir, resume=True), markers['val'], log)
    assert names(work_dir) == ['iter_6.pth']
    assert pointed_checkpoint(work_dir)['meta']['iter'] == 6

    # 3. Resumed from iter_6, killed with half of iter_9.pth written: only a temporary file
    #    exists, and the pointer still names the complete iter_6.pth.
    kill_at_marker(trainer.start(config, work_dir, resume=True), markers['save'], log)
    partial = [n for n in names(work_dir) if '.tmp-' in n]
    assert len(partial) == 1 and partial[0].startswith('.iter_9.pth.tmp-'), names(work_dir)
    assert 'iter_9.pth' not in names(work_dir)
    assert pointed_checkpoint(work_dir)['meta']['iter'] == 6

    # 4. Resumed from iter_6 to the end; the killed writer's temporary file is cleaned up.
    finish(trainer.start(config, work_dir, resume=True), log)
    assert names(work_dir) == [f'iter_{MAX_ITERS}.pth']
    assert 'a killed run left unfinished' in log.read_text()
    final = pointed_checkpoint(work_dir)
    assert final['meta']['iter'] == MAX_ITERS
    diff = {k: (final['state_dict'][k] - reference[k]).abs().max().item() for k in reference}
    assert final['state_dict'].keys() == reference.keys()
    assert max(diff.values()) == 0.0, {k: v for k, v in diff.items() if v}
