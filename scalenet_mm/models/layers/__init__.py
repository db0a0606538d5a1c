"""Small layers used by the project's necks and heads (registered on import)."""
from .layer_norm2d import LayerNorm2d

__all__ = ['LayerNorm2d']
