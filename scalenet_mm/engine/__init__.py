"""Training-engine pieces of scalenet_mm (optimizer constructors, reliability hooks, atomic
checkpoint writes), registered or installed on import."""
from .optimizers import LayerDecayOptimWrapperConstructor
from .atomic_checkpoint import install_atomic_local_backend
from . import hooks  # noqa: F401  (kill-safe CheckpointHook, NonFiniteLossHook)

# Checkpoints (and every other local file mmengine writes) are written atomically.
install_atomic_local_backend()

__all__ = ['LayerDecayOptimWrapperConstructor']
