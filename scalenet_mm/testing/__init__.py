"""Helpers for tests and demos: generated data sets that need no download (COCO shapes; the
Fashion-MNIST detection set, built from the installed Fashion-MNIST), and the project's
detection configs reduced to CPU size."""
from .coco_shapes import CLASSES as SHAPE_CLASSES
from .coco_shapes import CocoShapesSplit, generate_coco_shapes
from .det_config import ReducedDetSizes, reduced_mask_rcnn_config, write_reduced_mask_rcnn_config
from .fashion_mnist_det import (FASHION_CLASSES, FashionMNISTDetSplit,
                                first_images, generate_fashion_mnist_det, load_fashion_mnist,
                                render_garment)

__all__ = ['SHAPE_CLASSES', 'CocoShapesSplit', 'generate_coco_shapes', 'ReducedDetSizes',
           'reduced_mask_rcnn_config', 'write_reduced_mask_rcnn_config', 'FASHION_CLASSES',
           'FashionMNISTDetSplit', 'first_images', 'generate_fashion_mnist_det', 'load_fashion_mnist',
           'render_garment']
