"""Checkpoints: layouts and converters, safe loading and downloads, expand, export, publish,
and the model zoo.

Importing this package (``import scalenet_mm`` does) adds the ``scalenet-zoo://`` scheme and
the ``ModelHub`` names (:mod:`.zoo`); both are new names. The verified loaders for mmengine's
own remote schemes (:mod:`.download`) are registered by :func:`scalenet_mm.runtime.install`.
"""
from .download import (download_checkpoint, hub_checkpoint_dir, load_from_http_verified,
                       verified_schemes)
from .errors import (CheckpointError, CheckpointFormatError, CheckpointMismatchError,
                     DownloadError, ExportError, UnpublishedWeightsError, UnsafeCheckpointError)
from .expand import expand_checkpoint
from .export import (export_blockers, export_plain_classifier, export_plain_state_dict,
                     plain_backbone_config)
from .files import load_local_checkpoint, load_weights_only, save_atomic
from .formats import (classifier_mmpretrain_to_timm, classifier_timm_to_mmpretrain,
                      detect_classifier_layout, detect_layout, mmpretrain_to_timm,
                      timm_to_mmpretrain, unwrap_state_dict)
from .loading import LoadReport, load_pretrained, match_state_dict
from .publish import publish_checkpoint
from .zoo import published_weights, register_model_zoo

__all__ = [
    'download_checkpoint', 'hub_checkpoint_dir', 'load_from_http_verified', 'verified_schemes', 'CheckpointError',
    'CheckpointFormatError', 'CheckpointMismatchError', 'DownloadError', 'ExportError',
    'UnpublishedWeightsError', 'UnsafeCheckpointError', 'expand_checkpoint', 'export_blockers',
    'export_plain_classifier', 'export_plain_state_dict', 'plain_backbone_config',
    'load_local_checkpoint', 'load_weights_only', 'save_atomic',
    'classifier_mmpretrain_to_timm', 'classifier_timm_to_mmpretrain',
    'detect_classifier_layout', 'detect_layout', 'mmpretrain_to_timm', 'timm_to_mmpretrain',
    'unwrap_state_dict', 'LoadReport', 'load_pretrained', 'match_state_dict',
    'publish_checkpoint', 'published_weights', 'register_model_zoo'
]
