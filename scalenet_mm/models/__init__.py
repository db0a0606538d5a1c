"""OpenMMLab modules of scalenet_mm (registered on import)."""
from .backbones import ScaleNetViT

__all__ = ['ScaleNetViT']
