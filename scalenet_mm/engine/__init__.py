"""Training-engine pieces of scalenet_mm (optimizer constructors), registered on import."""
from .optimizers import LayerDecayOptimWrapperConstructor

__all__ = ['LayerDecayOptimWrapperConstructor']
