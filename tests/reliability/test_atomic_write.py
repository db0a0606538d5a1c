"""Atomic checkpoint writes in isolation: a write that fails at any point leaves the old
file complete and loadable, leaves no temporary file, and says which path failed and how to
fix it. Covers the writer itself and mmengine's own ``save_checkpoint`` while
``scalenet_mm.runtime.install()`` has made the atomic backend mmengine's local one."""
import errno
import os
import os.path as osp
import subprocess
import sys

import pytest
import torch
from mmengine.fileio import LocalBackend, get_file_backend
from mmengine.runner import save_checkpoint

import scalenet_mm  # noqa: F401
from scalenet_mm.checkpoint import save_atomic
from scalenet_mm.engine import atomic_checkpoint
from scalenet_mm.engine.atomic_checkpoint import (ATOMIC_BACKEND, AtomicLocalBackend,
                                                  atomic_path, atomic_write,
                                                  remove_stale_temporaries, temporary_path)
from scalenet_mm.runtime import installed, uninstall


@pytest.fixture(autouse=True)
def atomic_backend():
    """mmengine's saves in these tests go through the atomic backend (opt-in)."""
    with installed():
        yield


def _files(directory) -> list:
    return sorted(os.listdir(directory))


def test_install_makes_atomic_backend_local_and_undo_restores(tmp_path):
    assert atomic_checkpoint.atomic_local_backend_installed()
    assert isinstance(get_file_backend(str(tmp_path / 'x.pth')), AtomicLocalBackend)
    assert isinstance(get_file_backend(str(tmp_path / 'x.pth'), enable_singleton=True),
                      AtomicLocalBackend)
    uninstall()  # (the fixture's context restores the state it found afterwards)
    assert not atomic_checkpoint.atomic_local_backend_installed()
    assert type(get_file_backend(str(tmp_path / 'x.pth'))) is LocalBackend
    assert type(get_file_backend(str(tmp_path / 'y.pth'), enable_singleton=True)) \
        is LocalBackend
    # the atomic backend stays reachable by its own name (SafeCheckpointHook uses it)
    assert isinstance(get_file_backend(backend_args=dict(backend=ATOMIC_BACKEND)),
                      AtomicLocalBackend)


def test_save_atomic_and_atomic_path_share_the_one_write(tmp_path, monkeypatch):
    """save_atomic (converters, export) and downloads use atomic_path: a failure leaves
    neither the destination changed nor a temporary file."""
    path = tmp_path / 'model.pth'
    save_atomic({'w': torch.ones(2)}, str(path))
    assert _files(tmp_path) == ['model.pth']

    def replace_fails(src, dst):
        raise OSError(errno.EIO, 'Input/output error')

    monkeypatch.setattr(atomic_checkpoint.os, 'replace', replace_fails)
    with pytest.raises(OSError, match='intact'):
        save_atomic({'w': torch.zeros(2)}, str(path))
    monkeypatch.undo()
    with pytest.raises(RuntimeError, match='boom'):
        with atomic_path(path) as tmp:
            with open(tmp, 'wb') as f:
                f.write(b'partial')
            raise RuntimeError('boom')
    assert _files(tmp_path) == ['model.pth']
    assert torch.equal(torch.load(path, weights_only=True)['w'], torch.ones(2))


def test_atomic_write_replaces_content_and_leaves_no_temporary(tmp_path):
    path = tmp_path / 'sub' / 'file.bin'
    atomic_write(path, b'old')
    atomic_write(path, b'new content')
    assert path.read_bytes() == b'new content'
    assert _files(path.parent) == ['file.bin']
    atomic_write(tmp_path / 'pointer', 'iter_4.pth')
    assert (tmp_path / 'pointer').read_text() == 'iter_4.pth'


def test_failure_between_write_and_rename_keeps_old_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / 'iter_2.pth'
    save_checkpoint({'state_dict': {'w': torch.ones(3)}}, str(path))

    def replace_fails(src, dst):
        assert osp.getsize(src) > 0  # the new file was fully written and synced
        raise OSError(errno.EIO, 'Input/output error')

    monkeypatch.setattr(atomic_checkpoint.os, 'replace', replace_fails)
    with pytest.raises(OSError) as info:
        save_checkpoint({'state_dict': {'w': torch.zeros(3)}}, str(path))
    assert str(path) in str(info.value)
    assert 'intact' in str(info.value)
    assert info.value.errno == errno.EIO
    monkeypatch.undo()
    assert _files(tmp_path) == ['iter_2.pth']
    loaded = torch.load(path, weights_only=True)
    assert torch.equal(loaded['state_dict']['w'], torch.ones(3))


def test_partial_write_is_never_seen_under_the_final_name(tmp_path, monkeypatch):
    path = tmp_path / 'iter_4.pth'
    save_checkpoint({'state_dict': {'w': torch.ones(1000)}}, str(path))
    seen = {}

    def write_half_then_fail(file, data):
        file.write(data[:len(data) // 2])
        file.flush()
        seen['final'] = torch.load(path, weights_only=True)  # what a reader sees mid-write
        seen['tmp_size'] = os.fstat(file.fileno()).st_size
        raise KeyboardInterrupt  # not an OSError: must still clean up

    monkeypatch.setattr(atomic_checkpoint, '_write_all', write_half_then_fail)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint({'state_dict': {'w': torch.zeros(1000)}}, str(path))
    assert torch.equal(seen['final']['state_dict']['w'], torch.ones(1000))
    assert seen['tmp_size'] > 0
    assert _files(tmp_path) == ['iter_4.pth']


@pytest.mark.parametrize('code,kind,fix', [
    (errno.ENOSPC, OSError, 'is full'),
    (errno.EDQUOT, OSError, 'is full'),
    (errno.EROFS, OSError, 'not writable'),
    (errno.EACCES, PermissionError, 'not writable'),
])
def test_disk_full_or_unwritable_names_path_and_fix(tmp_path, monkeypatch, code, kind, fix):
    path = tmp_path / 'iter_6.pth'
    atomic_write(path, b'previous checkpoint')

    def fail(file, data):
        file.write(data[:3])
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(atomic_checkpoint, '_write_all', fail)
    with pytest.raises(kind) as info:
        AtomicLocalBackend().put(b'new checkpoint', str(path))
    message = str(info.value)
    assert info.value.errno == code
    assert str(path) in message and fix in message and '--resume' in message
    assert path.read_bytes() == b'previous checkpoint'
    assert _files(tmp_path) == ['iter_6.pth']


@pytest.mark.skipif(os.name != 'posix' or os.geteuid() == 0,
                    reason='root writes into read-only directories')
def test_read_only_directory_real_permissions(tmp_path):
    path = tmp_path / 'iter_2.pth'
    atomic_write(path, b'good')
    tmp_path.chmod(0o555)
    try:
        with pytest.raises(PermissionError) as info:
            atomic_write(path, b'new')
    finally:
        tmp_path.chmod(0o755)
    assert 'not writable' in str(info.value) and str(tmp_path) in str(info.value)
    assert path.read_bytes() == b'good'
    assert _files(tmp_path) == ['iter_2.pth']


def test_read_only_directory_at_temporary_creation(tmp_path, monkeypatch):
    """The unwritable-directory case as root sees it: creating the temporary file fails."""
    path = tmp_path / 'iter_2.pth'
    atomic_write(path, b'good')
    real_open = open

    def deny_temporaries(file, mode='r', *args, **kwargs):
        if atomic_checkpoint.TMP_INFIX in str(file) and 'w' in mode:
            raise PermissionError(errno.EACCES, 'Permission denied', str(file))
        return real_open(file, mode, *args, **kwargs)

    monkeypatch.setattr('builtins.open', deny_temporaries)
    with pytest.raises(PermissionError) as info:
        save_checkpoint({'state_dict': {}}, str(path))
    monkeypatch.undo()
    assert str(path) in str(info.value) and '--work-dir' in str(info.value)
    assert path.read_bytes() == b'good'
    assert _files(tmp_path) == ['iter_2.pth']


def test_stale_temporaries_of_dead_writers_are_removed_only(tmp_path):
    dead = subprocess.run([sys.executable, '-c', 'import os; print(os.getpid())'],
                          capture_output=True, text=True, check=True)
    dead_pid = int(dead.stdout)
    stale = tmp_path / f'.iter_4.pth{atomic_checkpoint.TMP_INFIX}{dead_pid}-0a1b2c3d'
    live = osp.basename(temporary_path(tmp_path / 'iter_6.pth'))  # this process: alive
    for name in (stale.name, live, 'iter_2.pth', '.hidden_note'):
        (tmp_path / name).write_bytes(b'x')
    assert remove_stale_temporaries(tmp_path) == [str(stale)]
    assert _files(tmp_path) == sorted([live, 'iter_2.pth', '.hidden_note'])
    assert remove_stale_temporaries(tmp_path / 'missing') == []
