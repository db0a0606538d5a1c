"""Training-engine pieces of scalenet_mm: optimizer constructors, the bf16 autocast optimizer
wrapper, reliability hooks and the atomic write. Importing registers names only; the atomic
backend for every local path is switched on by :func:`scalenet_mm.runtime.install`."""
from .optimizers import LayerDecayOptimWrapperConstructor
from .amp import AutocastOptimWrapper
from . import hooks  # noqa: F401  (SafeCheckpointHook, NonFiniteLossHook)

__all__ = ['LayerDecayOptimWrapperConstructor', 'AutocastOptimWrapper']
