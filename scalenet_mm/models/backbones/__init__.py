"""Backbones registered in mmpretrain's and mmdet's MODELS."""
from .scalenet_vit import ScaleNetViT

__all__ = ['ScaleNetViT']
