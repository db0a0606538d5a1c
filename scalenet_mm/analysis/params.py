"""Size accounting that counts a shared tensor once: parameters, optimizer state, checkpoints.

ScaleNet saves parameters, optimizer state and storage (not FLOPs), so these counters must
see through sharing: a tensor reached under several names, or two ``Parameter`` objects that
alias one memory region, is one tensor. Counting by identity alone (``model.parameters()``)
misses the second case; counting ``state_dict()`` entries misses the first.
"""
import io
import os
import tempfile
from typing import Dict, Hashable, Iterable, Optional, Tuple

import torch
import torch.nn as nn


def tensor_key(tensor: torch.Tensor) -> Hashable:
    """A key equal for two tensors exactly when they are the same view of the same memory."""
    if tensor.device.type == 'meta':
        return ('meta', id(tensor))
    storage = tensor.untyped_storage()
    return (tensor.device.type, tensor.device.index, storage.data_ptr(), tensor.storage_offset(),
            tuple(tensor.shape), tuple(tensor.stride()), tensor.dtype)


def unique_tensors(tensors: Iterable[torch.Tensor]) -> Iterable[torch.Tensor]:
    """Yield every tensor once, dropping later tensors that alias an earlier one."""
    seen = set()
    for tensor in tensors:
        key = tensor_key(tensor)
        if key not in seen:
            seen.add(key)
            yield tensor


def count_unique_parameters(model: nn.Module) -> Dict[str, int]:
    """Return ``total`` and ``trainable`` element counts with each shared tensor counted once.

    Every registered parameter is visited (``remove_duplicate=False``) and deduplicated by the
    memory it views, so a block registered under two parents and a ``Parameter`` built on
    another's ``.data`` are each counted once.
    """
    total = trainable = 0
    seen = set()
    for _, param in model.named_parameters(remove_duplicate=False):
        key = tensor_key(param)
        if key in seen:
            continue
        seen.add(key)
        total += param.numel()
        if param.requires_grad:
            trainable += param.numel()
    return dict(total=total, trainable=trainable)


def count_parameter_uses(model: nn.Module) -> int:
    """Return the element count with every *registration* counted (what naive counting gives)."""
    return sum(p.numel() for _, p in model.named_parameters(remove_duplicate=False))


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


def scalenet_parameter_split(backbone: nn.Module) -> Optional[Tuple[int, int, int]]:
    """``(shared, per_instance, other)`` element counts of a ScaleNet backbone, else None."""
    counter = getattr(backbone, 'count_parameters', None)
    if counter is None:
        return None
    counts = counter()
    return counts['shared'], counts['per_instance'], counts['other']
