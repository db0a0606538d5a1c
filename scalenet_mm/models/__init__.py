"""OpenMMLab modules of scalenet_mm (registered on import)."""
from .backbones import ScaleNetSwin, ScaleNetViT
from .layers import LayerNorm2d
from .necks import SimpleFeaturePyramid

__all__ = ['ScaleNetViT', 'ScaleNetSwin', 'LayerNorm2d', 'SimpleFeaturePyramid']
