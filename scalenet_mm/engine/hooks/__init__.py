"""Reliability hooks, registered in mmpretrain's and mmdet's HOOKS on import.

* :class:`SafeCheckpointHook` -- also registered under mmengine's name ``CheckpointHook``,
  so every config's checkpoint hook saves kill-safely and resumes exactly.
* :class:`NonFiniteLossHook` -- stops (or skips the step) on a NaN/inf loss before the
  optimizer updates anything.
"""
from .checkpoint_hook import SafeCheckpointHook
from .nonfinite_loss_hook import NonFiniteLossHook

__all__ = ['SafeCheckpointHook', 'NonFiniteLossHook']
