"""Backbones registered in mmpretrain's and mmdet's MODELS."""
from .scalenet_swin import ScaleNetSwin
from .scalenet_vit import ScaleNetViT

__all__ = ['ScaleNetViT', 'ScaleNetSwin']
