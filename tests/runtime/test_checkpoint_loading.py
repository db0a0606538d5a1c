"""The scoped resume loader: while ``install()`` is active, Runner-style checkpoints (numpy
values, HistoryBuffer) load through mmengine's CheckpointLoader on torch >= 2.6 when they lie
in a trusted location (the run's work dir, or a path trusted explicitly); any other local
file loads weights-only, and a pickle that needs code is refused with a message saying how to
trust it, without running anything. Without ``install()`` mmengine's own loader is used."""
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from mmengine.logging import HistoryBuffer, MessageHub
from mmengine.runner.checkpoint import CheckpointLoader, _load_checkpoint, load_from_local

import scalenet_mm  # noqa: F401
from scalenet_mm.checkpoint import UnsafeCheckpointError
from scalenet_mm.runtime import (TRUST_ENV, install, installed, is_trusted,
                                 load_from_local_trusted, local_checkpoint_loader_registered,
                                 trusted_checkpoints, uninstall)


def runner_style_checkpoint(path: Path) -> Path:
    """A file shaped like a Runner checkpoint: tensors plus numpy and HistoryBuffer objects."""
    hub = MessageHub(f'test_checkpoint_loading_{path.parent.name}')
    hub.update_scalar('train/loss', 1.5)
    hub.update_scalar('train/loss', 1.25)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(dict(meta=dict(iter=2, seed=np.int64(7)), state_dict={'w': torch.ones(3)},
                    message_hub=hub.state_dict()), path)
    return path


def evil_pickle(path: Path, marker: Path) -> Path:
    """A checkpoint whose unpickling would create ``marker`` (a non-tensor global: exec)."""

    class Payload:

        def __reduce__(self) -> Any:
            return (exec, (f'open({str(marker)!r}, "w").write("ran")', ))

    torch.save({'state_dict': {'w': torch.zeros(1)}, 'payload': Payload()}, path)
    return path


def test_runner_checkpoint_in_the_work_dir_resumes(tmp_path: Path) -> None:
    ckpt = runner_style_checkpoint(tmp_path / 'work' / 'iter_2.pth')
    # The file really holds non-tensor objects: torch's default (weights_only) refuses it,
    # and so does mmengine's own local loader.
    with pytest.raises(pickle.UnpicklingError):
        torch.load(ckpt)
    with pytest.raises(pickle.UnpicklingError):
        load_from_local(str(ckpt), map_location='cpu')
    registered_before = local_checkpoint_loader_registered()
    with installed(work_dir=tmp_path / 'work'):
        assert CheckpointLoader._get_checkpoint_loader(str(ckpt)) is load_from_local_trusted
        loaded = _load_checkpoint(str(ckpt), map_location='cpu')
    assert isinstance(loaded['meta']['seed'], np.integer) and loaded['meta']['seed'] == 7
    buffer = loaded['message_hub']['log_scalars']['train/loss']
    assert isinstance(buffer, HistoryBuffer) and buffer.current() == 1.25
    assert torch.equal(loaded['state_dict']['w'], torch.ones(3))
    assert local_checkpoint_loader_registered() == registered_before  # context restored it


def test_file_outside_the_work_dir_is_refused_and_nothing_runs(tmp_path: Path) -> None:
    marker = tmp_path / 'code_ran'
    (tmp_path / 'elsewhere').mkdir()
    outside = evil_pickle(tmp_path / 'elsewhere' / 'model.pth', marker)
    runner_file = runner_style_checkpoint(tmp_path / 'other_run' / 'iter_2.pth')
    with installed(work_dir=tmp_path / 'work'):
        with pytest.raises(UnsafeCheckpointError) as info:
            _load_checkpoint(str(outside), map_location='cpu')
        message = str(info.value)
        assert str(outside) in message and 'builtins.exec' in message
        assert '--trust-checkpoint' in message and TRUST_ENV in message
        assert not marker.exists(), 'the pickle ran code'
        # a Runner checkpoint of another work dir is refused the same way ...
        with pytest.raises(UnsafeCheckpointError, match='--trust-checkpoint'):
            _load_checkpoint(str(runner_file), map_location='cpu')
        # ... until it is trusted explicitly (a function, or the environment variable)
        with trusted_checkpoints(runner_file):
            assert _load_checkpoint(str(runner_file))['meta']['iter'] == 2
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv(TRUST_ENV, str(tmp_path / 'other_run'))
            assert _load_checkpoint(str(runner_file))['meta']['iter'] == 2
        assert not is_trusted(runner_file)
    # the payload is live: a plain unpickling would have run it (the test can fail)
    torch.load(outside, weights_only=False)
    assert marker.read_text() == 'ran'


def test_weights_only_files_load_from_anywhere(tmp_path: Path) -> None:
    plain = tmp_path / 'exported.pth'
    torch.save({'state_dict': {'w': torch.full((2, ), 3.0)}}, plain)
    with installed(work_dir=tmp_path / 'work'):
        assert torch.equal(_load_checkpoint(str(plain))['state_dict']['w'], torch.full((2, ),
                                                                                      3.0))


def test_trust_does_not_leak_to_sibling_folders(tmp_path: Path) -> None:
    with installed(work_dir=tmp_path / 'work'):
        assert is_trusted(tmp_path / 'work' / 'sub' / 'iter_1.pth')
        assert not is_trusted(tmp_path / 'work_other' / 'iter_1.pth')
        assert not is_trusted(tmp_path / 'iter_1.pth')
    assert not is_trusted(tmp_path / 'work' / 'iter_1.pth')


def test_missing_file_names_the_path(tmp_path: Path) -> None:
    with installed():
        with pytest.raises(FileNotFoundError, match='nope.pth'):
            _load_checkpoint(str(tmp_path / 'nope.pth'))


def test_install_is_idempotent_and_uninstall_restores(tmp_path: Path) -> None:
    schemes_before = dict(CheckpointLoader._schemes)
    try:
        install(work_dir=tmp_path)
        once = dict(CheckpointLoader._schemes)
        install(work_dir=tmp_path)
        assert dict(CheckpointLoader._schemes) == once
        assert local_checkpoint_loader_registered() and is_trusted(tmp_path / 'a.pth')
    finally:
        uninstall()
    assert dict(CheckpointLoader._schemes) == schemes_before
    assert not is_trusted(tmp_path / 'a.pth')
    uninstall()  # a second uninstall is a no-op
    assert dict(CheckpointLoader._schemes) == schemes_before
