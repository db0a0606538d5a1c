"""Capture and restore the random-number generators a training step draws from.

mmengine 0.10.7's ``Runner.resume`` restores weights, optimizer, schedulers, the iteration
count and (by re-seeding) the data sampler's order, but not the *state* of the global
generators at the checkpoint: after a resume, dropout / drop-path masks, batch augments
drawn in the main process and data loading with ``num_workers=0`` continue from the seed's
initial state instead of where the interrupted run was. The resumed run then trains on
other random draws than an uninterrupted one would have.

:func:`capture` records Python's ``random``, numpy's legacy global generator, torch's CPU
generator and (when CUDA is initialised) every CUDA generator; :func:`restore` puts them
back. Values are plain Python / numpy / tensors, the same kinds a Runner checkpoint
already holds.
"""
import random
from typing import Any, Dict

import numpy as np
import torch


def capture() -> Dict[str, Any]:
    """Return the state of every global generator a training step may draw from."""
    state: Dict[str, Any] = dict(
        python=random.getstate(),
        numpy=np.random.get_state(),
        torch=torch.get_rng_state(),
    )
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state['cuda'] = torch.cuda.get_rng_state_all()
    return state


def restore(state: Dict[str, Any]) -> None:
    """Put the generators back into ``state`` (as returned by :func:`capture`).

    CUDA states are restored only when their number matches this process's devices.
    """
    random.setstate(state['python'])
    np.random.set_state(state['numpy'])
    torch.set_rng_state(state['torch'])
    cuda = state.get('cuda')
    if cuda is not None and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(cuda)
