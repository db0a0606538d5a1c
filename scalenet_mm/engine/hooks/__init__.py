"""Reliability hooks, registered under their own names on import (never over mmengine's).

* :class:`SafeCheckpointHook` -- mmengine's ``CheckpointHook`` made kill-safe (atomic writes,
  pointer before deletion) with exact resume; configs ask for ``type='SafeCheckpointHook'``.
* :class:`NonFiniteLossHook` -- stops (or skips the step) on a NaN/inf loss before the
  optimizer updates anything.
"""
from .checkpoint_hook import SafeCheckpointHook
from .nonfinite_loss_hook import NonFiniteLossHook

__all__ = ['SafeCheckpointHook', 'NonFiniteLossHook']
