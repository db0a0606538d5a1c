"""OpenMMLab modules of scalenet_mm (registered on import)."""
from .backbones import ScaleNetViT
from .layers import LayerNorm2d
from .necks import SimpleFeaturePyramid

__all__ = ['ScaleNetViT', 'LayerNorm2d', 'SimpleFeaturePyramid']
