"""The project's SafeCheckpointHook with a real mmengine Runner, in process: configs get it by
its own name (mmengine's CheckpointHook is left alone), a crashed run resumes to the exact
weights of an uninterrupted one (RNG states saved and restored, validation isolated), and a failed save (disk full, failing pointer write) keeps
``last_checkpoint`` naming a complete checkpoint that still exists."""
import errno
import os
import os.path as osp
from typing import Dict

import pytest
import torch
from mmengine.hooks import CheckpointHook
from mmengine.registry import HOOKS as MMENGINE_HOOKS
from mmdet.registry import HOOKS as DET_HOOKS
from mmpretrain.registry import HOOKS as PRETRAIN_HOOKS
from toy_training import Crash, CrashBeforeIter, make_runner, weights

from scalenet_mm.engine import atomic_checkpoint
from scalenet_mm.engine.hooks import SafeCheckpointHook
from scalenet_mm.engine.hooks.checkpoint_hook import RNG_KEY

MAX_ITERS = 8


def assert_same_weights(a: Dict[str, torch.Tensor], b: Dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    diff = {k: (a[k] - b[k]).abs().max().item() for k in a}
    assert all(v == 0 for v in diff.values()), diff


def pointer(work_dir) -> str:
    with open(osp.join(work_dir, 'last_checkpoint')) as f:
        return f.read()


def checkpoints(work_dir) -> list:
    return sorted(n for n in os.listdir(work_dir) if n.endswith('.pth') or '.tmp-' in n)


@pytest.fixture(scope='module')
def uninterrupted(tmp_path_factory) -> Dict[str, torch.Tensor]:
    runner = make_runner(str(tmp_path_factory.mktemp('uninterrupted')), MAX_ITERS)
    runner.train()
    return weights(runner)


def crash_then_resume(work_dir: str, crash_at: int, strip_rng: bool = False):
    with pytest.raises(Crash):
        make_runner(work_dir, MAX_ITERS, custom_hooks=[CrashBeforeIter(crash_at)]).train()
    if strip_rng:
        path = pointer(work_dir)
        ckpt = torch.load(path, weights_only=False)
        del ckpt[RNG_KEY]
        torch.save(ckpt, path)
    runner = make_runner(work_dir, MAX_ITERS, resume=True, name='resumed')
    runner.train()
    return runner


@pytest.mark.parametrize('scope_registry', [MMENGINE_HOOKS, PRETRAIN_HOOKS, DET_HOOKS])
def test_safe_hook_has_its_own_name_and_mmengines_stays(scope_registry):
    with scope_registry.switch_scope_and_registry(scope_registry.scope) as registry:
        assert registry.get('SafeCheckpointHook') is SafeCheckpointHook
        assert registry.get('CheckpointHook') is CheckpointHook
    assert issubclass(SafeCheckpointHook, CheckpointHook)


def test_configs_get_the_hook_they_name(tmp_path):
    for name, cls in (('SafeCheckpointHook', SafeCheckpointHook),
                      ('CheckpointHook', CheckpointHook)):
        runner = make_runner(str(tmp_path / name), checkpoint=dict(type=name, interval=4))
        assert [type(h) for h in runner.hooks if isinstance(h, CheckpointHook)] == [cls]


def test_safe_hook_writes_atomically_without_install(tmp_path):
    """Its checkpoints go through the atomic backend by name; mmengine's local backend (and
    so every other file) is untouched."""
    from mmengine.fileio import LocalBackend, get_file_backend

    from scalenet_mm.runtime import active_fixes
    assert not active_fixes()['atomic_writes']
    runner = make_runner(str(tmp_path), 2, val_interval=None)
    runner.train()
    hook = next(h for h in runner.hooks if isinstance(h, SafeCheckpointHook))
    assert isinstance(hook.file_backend, atomic_checkpoint.AtomicLocalBackend)
    assert type(get_file_backend(str(tmp_path / 'x'))) is LocalBackend


def test_resume_after_crash_is_bit_identical(tmp_path, uninterrupted):
    # Crash before iteration 5 (0-based): the last checkpoint is iter_4, taken right after a
    # validation run; the resumed run must replay the random draws of iterations 5..8.
    runner = crash_then_resume(str(tmp_path), crash_at=5)
    assert runner.iter == MAX_ITERS
    assert_same_weights(weights(runner), uninterrupted)
    ckpt = torch.load(pointer(tmp_path), weights_only=False)
    assert ckpt[RNG_KEY]['iter'] == MAX_ITERS and len(ckpt[RNG_KEY]['ranks']) == 1


def test_epoch_based_resume_is_bit_identical(tmp_path):
    """Epoch-based loop (the classification configs): checkpoints at epoch ends, crash in
    epoch 3, resume from epoch_2.pth."""
    reference = make_runner(str(tmp_path / 'reference'), 4, by_epoch=True, val_interval=1)
    reference.train()
    work_dir = str(tmp_path / 'crashed')
    with pytest.raises(Crash):
        make_runner(work_dir, 4, by_epoch=True, val_interval=1,
                    custom_hooks=[CrashBeforeIter(14)]).train()  # 6 iterations per epoch
    assert pointer(work_dir).endswith('epoch_2.pth')
    resumed = make_runner(work_dir, 4, by_epoch=True, val_interval=1, resume=True,
                          name='resumed')
    resumed.train()
    assert_same_weights(weights(resumed), weights(reference))


def test_without_saved_rng_states_the_resumed_run_differs(tmp_path, uninterrupted):
    """Control: the saved generator states are what makes the resume exact."""
    runner = crash_then_resume(str(tmp_path), crash_at=5, strip_rng=True)
    diff = max((weights(runner)[k] - uninterrupted[k]).abs().max().item() for k in uninterrupted)
    assert diff > 1e-4


def test_validation_does_not_change_the_training_stream(tmp_path, uninterrupted):
    runner = make_runner(str(tmp_path), MAX_ITERS, val_interval=None)
    runner.train()
    assert_same_weights(weights(runner), uninterrupted)


def test_disk_full_while_saving_keeps_previous_checkpoint(tmp_path, monkeypatch, uninterrupted):
    """ENOSPC during iter_4.pth with max_keep_ckpts=1: mmengine's own hook deletes iter_2.pth
    before writing iter_4.pth; here iter_2.pth survives and stays the resume point."""
    work_dir = str(tmp_path)
    real_write = atomic_checkpoint._write_all

    def disk_full_at_iter_4(file, data):
        if 'iter_4.pth' in file.name:
            file.write(data[:len(data) // 3])
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real_write(file, data)

    monkeypatch.setattr(atomic_checkpoint, '_write_all', disk_full_at_iter_4)
    with pytest.raises(OSError) as info:
        make_runner(work_dir, MAX_ITERS).train()
    message = str(info.value)
    assert info.value.errno == errno.ENOSPC
    assert osp.join(work_dir, 'iter_4.pth') in message and 'Free space' in message
    assert checkpoints(work_dir) == ['iter_2.pth']
    assert pointer(work_dir) == osp.join(work_dir, 'iter_2.pth')
    assert torch.load(pointer(work_dir), weights_only=False)['meta']['iter'] == 2

    monkeypatch.undo()  # space was freed: resume ends where an uninterrupted run ends
    runner = make_runner(work_dir, MAX_ITERS, resume=True, name='resumed')
    runner.train()
    assert_same_weights(weights(runner), uninterrupted)
    assert checkpoints(work_dir) == ['iter_8.pth']


def test_failed_pointer_write_keeps_pointing_at_an_existing_checkpoint(tmp_path, monkeypatch):
    work_dir = str(tmp_path)
    real_atomic_write = atomic_checkpoint.atomic_write
    calls = {'pointer': 0}

    def pointer_fails_second_time(path, data, encoding='utf-8'):
        if str(path).endswith('last_checkpoint'):
            calls['pointer'] += 1
            if calls['pointer'] == 2:
                raise OSError(errno.EIO, 'Input/output error')
        real_atomic_write(path, data, encoding)

    from scalenet_mm.engine.hooks import checkpoint_hook
    monkeypatch.setattr(checkpoint_hook, 'atomic_write', pointer_fails_second_time)
    with pytest.raises(OSError):
        make_runner(work_dir, MAX_ITERS, val_interval=None).train()
    # iter_4.pth is complete but not yet pointed at; iter_2.pth, pointed at, was not deleted.
    assert checkpoints(work_dir) == ['iter_2.pth', 'iter_4.pth']
    assert pointer(work_dir) == osp.join(work_dir, 'iter_2.pth')
