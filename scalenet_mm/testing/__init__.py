"""Helpers for tests and demos: generated data sets that need no download, and the project's
detection configs reduced to CPU size."""
from .coco_shapes import CLASSES as SHAPE_CLASSES
from .coco_shapes import CocoShapesSplit, generate_coco_shapes
from .det_config import ReducedDetSizes, reduced_mask_rcnn_config, write_reduced_mask_rcnn_config

__all__ = ['SHAPE_CLASSES', 'CocoShapesSplit', 'generate_coco_shapes', 'ReducedDetSizes',
           'reduced_mask_rcnn_config', 'write_reduced_mask_rcnn_config']
