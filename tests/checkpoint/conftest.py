"""Fixtures of the checkpoint tests: a private torch hub cache, a local HTTP server that
serves bytes the test provides (and counts requests), and small timm ViTs as references."""
from pathlib import Path
from typing import Iterator

import pytest
import torch



@pytest.fixture
def hub_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh torch hub folder (TORCH_HOME and torch.hub.set_dir), restored afterwards.

    Yields the folder where downloaded checkpoints are cached (``<hub>/checkpoints``)."""
    previous = torch.hub.get_dir()
    monkeypatch.setenv('TORCH_HOME', str(tmp_path / 'torch_home'))
    torch.hub.set_dir(str(tmp_path / 'hub'))
    try:
        yield tmp_path / 'hub' / 'checkpoints'
    finally:
        torch.hub.set_dir(previous)

