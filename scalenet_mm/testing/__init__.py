"""Helpers for tests and demos: generated data sets that need no download."""
from .coco_shapes import CLASSES as SHAPE_CLASSES
from .coco_shapes import CocoShapesSplit, generate_coco_shapes

__all__ = ['SHAPE_CLASSES', 'CocoShapesSplit', 'generate_coco_shapes']
