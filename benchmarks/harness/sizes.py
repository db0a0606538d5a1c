"""Sizes a benchmark reports that count a shared tensor once: optimizer state, state-dict and
checkpoint bytes (unique parameters: :mod:`scalenet_mm.utils.complexity`).

A tensor reached under several names, or two ``Parameter`` objects that alias one memory
region, is one tensor here, as it is in memory.
"""
import io
import os
import tempfile
from typing import Iterable, Optional

import torch
import torch.nn as nn

from scalenet_mm.utils.complexity import tensor_key


def unique_tensors(tensors: Iterable[torch.Tensor]) -> Iterable[torch.Tensor]:
    """Yield every tensor once, dropping later tensors that alias an earlier one."""
    seen = set()
    for tensor in tensors:
        key = tensor_key(tensor)
        if key not in seen:
            seen.add(key)
            yield tensor


def optimizer_state_bytes(optimizer: torch.optim.Optimizer) -> int:
    """Bytes held in ``optimizer.state`` (e.g. AdamW's two moments and step counters).

    Call it after at least one ``step()``: most optimizers create their state lazily.
    """
    tensors = []
    for state in optimizer.state.values():
        for value in state.values():
            if torch.is_tensor(value):
                tensors.append(value)
    return sum(t.numel() * t.element_size() for t in unique_tensors(tensors))


def state_dict_bytes(model: nn.Module) -> int:
    """Bytes of the tensors in ``model.state_dict()`` with aliases counted once (in memory)."""
    return sum(t.numel() * t.element_size() for t in unique_tensors(model.state_dict().values()))


def checkpoint_file_bytes(model: nn.Module, directory: Optional[str] = None) -> int:
    """Size on disk of ``torch.save(model.state_dict())`` saved from the model's own device.

    Saving from the device (not after ``.cpu()``) is what a Runner does; it is where aliased
    tensors are stored once (shared storage) or several times (a copy per alias).
    """
    handle, path = tempfile.mkstemp(suffix='.pth', dir=directory)
    os.close(handle)
    try:
        torch.save(model.state_dict(), path)
        return os.path.getsize(path)
    finally:
        os.remove(path)


def serialized_bytes(obj: object) -> int:
    """Size of ``torch.save(obj)`` in memory (for small objects in tests)."""
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getbuffer().nbytes
