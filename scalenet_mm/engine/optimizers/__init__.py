"""Optimizer-wrapper constructors (registered in mmdet's and mmpretrain's registries on import)."""
from .layer_decay_constructor import LayerDecayOptimWrapperConstructor

__all__ = ['LayerDecayOptimWrapperConstructor']
