"""The trusted local loader: Runner-style checkpoints (numpy values, HistoryBuffer) load
through mmengine's CheckpointLoader on torch >= 2.6, where mmengine's own loader fails;
remote schemes are left alone; registration is idempotent."""
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.logging import HistoryBuffer, MessageHub
from mmengine.runner.checkpoint import CheckpointLoader, _load_checkpoint, load_from_local

import scalenet_mm  # noqa: F401  (registers the loader)
from scalenet_mm.runtime import (load_from_local_trusted, local_checkpoint_loader_registered,
                                 register_local_checkpoint_loader)


@pytest.fixture
def runner_style_checkpoint(tmp_path: Path) -> Path:
    """A file shaped like a Runner checkpoint: tensors plus numpy and HistoryBuffer objects."""
    hub = MessageHub('test_checkpoint_loading')
    hub.update_scalar('train/loss', 1.5)
    hub.update_scalar('train/loss', 1.25)
    path = tmp_path / 'iter_2.pth'
    torch.save(dict(meta=dict(iter=2, seed=np.int64(7)), state_dict={'w': torch.ones(3)},
                    message_hub=hub.state_dict()), path)
    return path


def test_local_paths_use_the_trusted_loader() -> None:
    assert local_checkpoint_loader_registered()
    assert CheckpointLoader._get_checkpoint_loader('/some/dir/iter_2.pth') is \
        load_from_local_trusted
    assert CheckpointLoader._get_checkpoint_loader('relative/iter_2.pth') is \
        load_from_local_trusted


def test_network_schemes_are_not_taken_over() -> None:
    for url in ('http://example.org/a.pth', 'https://example.org/a.pth'):
        assert CheckpointLoader._get_checkpoint_loader(url) is not load_from_local_trusted


def test_runner_checkpoint_needs_the_fix(runner_style_checkpoint: Path) -> None:
    # The file really holds non-tensor objects: torch's default (weights_only) refuses it ...
    with pytest.raises(pickle.UnpicklingError):
        torch.load(runner_style_checkpoint)
    # ... and so does mmengine's own local loader.
    with pytest.raises(pickle.UnpicklingError):
        load_from_local(str(runner_style_checkpoint), map_location='cpu')
    # Through mmengine's public entry point it now loads, objects intact.
    ckpt = _load_checkpoint(str(runner_style_checkpoint), map_location='cpu')
    assert isinstance(ckpt['meta']['seed'], np.integer) and ckpt['meta']['seed'] == 7
    buffer = ckpt['message_hub']['log_scalars']['train/loss']
    assert isinstance(buffer, HistoryBuffer) and buffer.current() == 1.25
    assert torch.equal(ckpt['state_dict']['w'], torch.ones(3))


def test_missing_file_names_the_path(tmp_path: Path) -> None:
    missing = tmp_path / 'nope.pth'
    with pytest.raises(FileNotFoundError, match='nope.pth'):
        _load_checkpoint(str(missing))


def test_registration_is_idempotent() -> None:
    schemes_before = dict(CheckpointLoader._schemes)
    register_local_checkpoint_loader()
    register_local_checkpoint_loader()
    assert dict(CheckpointLoader._schemes) == schemes_before
    assert local_checkpoint_loader_registered()


def test_registration_replaces_mmengine_loader() -> None:
    CheckpointLoader.register_scheme(prefixes='', loader=load_from_local, force=True)
    try:
        assert not local_checkpoint_loader_registered()
        register_local_checkpoint_loader()
        assert local_checkpoint_loader_registered()
    finally:
        register_local_checkpoint_loader()
