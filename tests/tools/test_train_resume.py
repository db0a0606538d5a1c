"""tools/train.py trains the tiny ScaleNet classifier and saves Runner checkpoints; a second
run with --resume continues from the saved iteration (weights, optimizer, message hub),
which on torch >= 2.6 needs the scoped resume loader (tools/train.py switches it on for the
work dir)."""
import pickle
import re
import shutil
from pathlib import Path

import pytest
import torch
from mmengine.logging import HistoryBuffer
from mmengine.runner.checkpoint import _load_checkpoint

import scalenet_mm  # noqa: F401
from scalenet_mm.runtime import installed


def test_train_writes_runner_checkpoints(trained_tiny_cls: Path) -> None:
    assert (trained_tiny_cls / 'last_checkpoint').read_text().strip().endswith('iter_4.pth')
    ckpt_path = trained_tiny_cls / 'iter_4.pth'
    # A Runner checkpoint holds non-tensor objects: torch's default loader refuses it ...
    with pytest.raises(pickle.UnpicklingError):
        torch.load(ckpt_path)
    # ... mmengine's entry point loads it through the scoped loader, for its work dir.
    with installed(work_dir=trained_tiny_cls):
        ckpt = _load_checkpoint(str(ckpt_path), map_location='cpu')
    assert ckpt['meta']['iter'] == 4
    assert isinstance(ckpt['message_hub']['log_scalars']['train/loss'], HistoryBuffer)
    assert any(k.startswith('backbone.instances.3.') for k in ckpt['state_dict'])


@pytest.mark.slow
def test_resume_continues_from_saved_iteration(tmp_path: Path, tiny_cls_config: Path,
                                               trained_tiny_cls: Path, run_tool) -> None:
    work_dir = tmp_path / 'work'
    shutil.copytree(trained_tiny_cls, work_dir)
    # mmengine's last_checkpoint holds an absolute path: point it at the copy.
    (work_dir / 'last_checkpoint').write_text(str(work_dir / 'iter_4.pth'))
    proc = run_tool(['tools/train.py', tiny_cls_config, '--work-dir', work_dir, '--resume',
                     '--cfg-options', 'train_cfg.max_iters=6'])
    log = proc.stdout
    assert 'Loads checkpoint by local_trusted backend' in log
    assert f'Load checkpoint from {work_dir / "iter_4.pth"}' in log
    assert 'resumed epoch: 0, iter: 4' in log
    trained = [int(i) for i in re.findall(r'Iter\(train\) \[\s*(\d+)/6\]', log)]
    assert trained == [5, 6], log[-3000:]
    assert (work_dir / 'last_checkpoint').read_text().strip().endswith('iter_6.pth')

    with installed(work_dir=work_dir):
        ckpt = _load_checkpoint(str(work_dir / 'iter_6.pth'), map_location='cpu')
        first = _load_checkpoint(str(work_dir / 'iter_4.pth'), map_location='cpu')
    assert ckpt['meta']['iter'] == 6
    # The message hub and the optimizer continued too: 6 losses logged, 6 AdamW steps.
    losses = ckpt['message_hub']['log_scalars']['train/loss']
    assert len(losses.data[0]) == 6
    steps = {float(state['step']) for state in ckpt['optimizer']['state'].values()}
    assert steps == {6.0}
    key = 'backbone.layers.0.attn.qkv.weight'
    assert not torch.equal(first['state_dict'][key], ckpt['state_dict'][key])


def test_resume_from_missing_file_is_a_clear_error(tmp_path: Path, tiny_cls_config: Path,
                                                   run_tool_inprocess) -> None:
    with pytest.raises(FileNotFoundError, match="iter_99.pth'.*no such checkpoint"):
        run_tool_inprocess('tools/train.py', tiny_cls_config, '--work-dir', tmp_path / 'w',
                           '--resume', tmp_path / 'iter_99.pth')
    assert not (tmp_path / 'w').exists()  # failed before the Runner made the work dir


def test_amp_without_gpu_is_a_clear_error(tmp_path: Path, tiny_cls_config: Path,
                                          run_tool_inprocess) -> None:
    if torch.cuda.is_available():
        pytest.skip('checks the message on machines without a GPU')
    with pytest.raises(RuntimeError, match='--amp needs a GPU'):
        run_tool_inprocess('tools/train.py', tiny_cls_config, '--work-dir', tmp_path / 'w',
                           '--amp')
