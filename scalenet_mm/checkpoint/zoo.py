"""The model zoo: mmpretrain ``ModelHub`` names and the ``scalenet-zoo://`` weights scheme.

Importing this module:

1. registers the classification models of ``model-index.yml`` with mmpretrain's
   ``ModelHub``, so ``mmpretrain.get_model('<name>')``, ``list_models`` and the inferencers
   know them (detection entries are for mmdet, which has no such hub);
2. registers the ``scalenet-zoo://<name>`` checkpoint scheme (a new prefix, mmengine has
   none of that name) that registered models point their weights to. It downloads the
   entry's ``Weights`` URL through the verified download (:mod:`.download`, always, whether
   or not :func:`scalenet_mm.runtime.install` ran) and converts official DeiT/timm files to
   mmpretrain classifier keys.
   An entry with ``Weights: null`` (every ScaleNet model so far: none is published) raises
   :class:`~.errors.UnpublishedWeightsError`, so ``get_model(name, pretrained=True)`` fails
   with that message instead of silently returning random weights.

``scalenet_mm::`` base configs are handled by :func:`scalenet_mm.registry.register_config_package`.
"""
import os.path as osp
import warnings
from typing import Any, Dict, Optional, Tuple

from mmengine.runner.checkpoint import CheckpointLoader

from ..private_api import checkpoint_schemes, modelhub_models
from .download import HTTP_PREFIXES, load_from_http_verified
from .errors import CheckpointFormatError, UnpublishedWeightsError
from .files import MapLocation, load_weights_only
from .formats import classifier_timm_to_mmpretrain, is_timm_layout, unwrap_state_dict

ZOO_SCHEME = 'scalenet-zoo://'
_PACKAGE_DIR = osp.dirname(osp.dirname(osp.abspath(__file__)))

#: name (lower case) -> the ``Weights`` URL of its model-index entry (None: unpublished).
_WEIGHTS: Dict[str, Optional[str]] = {}


def model_index_file() -> Tuple[str, str]:
    """``(model-index.yml, config root)``: the installed ``.mim`` copy, else the source tree's."""
    mim = osp.join(_PACKAGE_DIR, '.mim')
    if osp.isfile(osp.join(mim, 'model-index.yml')):
        return osp.join(mim, 'model-index.yml'), mim
    root = osp.dirname(_PACKAGE_DIR)
    return osp.join(root, 'model-index.yml'), root


def published_weights(name: str) -> Optional[str]:
    """The published weights URL of a registered model (None when there is none)."""
    key = name.lower()
    if key not in _WEIGHTS:
        raise KeyError(f'{name!r} is not a scalenet_mm model; known: {sorted(_WEIGHTS)}')
    return _WEIGHTS[key]


def _builds_in_mmpretrain(metainfo: Any) -> bool:
    """Whether an entry is an mmpretrain model (ModelHub builds every entry in mmpretrain's
    registry): detection entries (``Object Detection`` / ``Instance Segmentation`` results or
    a config under ``configs/det/``) are for mmdet and are not registered."""
    tasks = {result.task for result in (metainfo.results or [])}
    if tasks:
        return not tasks & {'Object Detection', 'Instance Segmentation', 'Semantic Segmentation',
                            'Panoptic Segmentation'}
    return '/det/' not in (metainfo.config or '').replace('\\', '/')


def register_model_zoo(index_file: Optional[str] = None,
                       config_root: Optional[str] = None) -> int:
    """Register the classification models of ``model-index.yml`` with mmpretrain's ``ModelHub``.

    Their config paths become absolute and their weights ``scalenet-zoo://<name>``. A name
    already registered from the same file is skipped (re-imports are harmless); the same name
    from another file raises, as ModelHub does. Returns the number of models registered now.
    """
    from modelindex.load_model_index import load

    if index_file is None:
        index_file, config_root = model_index_file()
    if not osp.isfile(index_file):
        return 0
    config_root = config_root or osp.dirname(index_file)
    model_index = load(index_file)
    model_index.build_models_with_collections()
    added = 0
    for metainfo in model_index.models:
        if not _builds_in_mmpretrain(metainfo):
            continue
        name = metainfo.name.lower()
        existing = modelhub_models().get(name)
        if existing is not None:
            if name in _WEIGHTS and osp.abspath(existing.filepath) == osp.abspath(
                    metainfo.filepath):
                continue
            raise ValueError(f'model name {name!r} of {metainfo.filepath} is already '
                             f'registered from {existing.filepath}; rename one of them')
        if metainfo.config and not osp.isabs(metainfo.config):
            metainfo.config = osp.abspath(osp.join(config_root, metainfo.config))
        _WEIGHTS[name] = metainfo.weights or None
        metainfo.weights = f'{ZOO_SCHEME}{name}'
        modelhub_models()[name] = metainfo
        added += 1
    return added


def load_from_zoo(filename: str, map_location: MapLocation = None) -> Dict[str, Any]:
    """mmengine checkpoint scheme ``scalenet-zoo://<name>`` (see the module docstring)."""
    name = filename[len(ZOO_SCHEME):]
    url = published_weights(name)
    if url is None:
        raise UnpublishedWeightsError(
            f'no checkpoint has been published for {name!r} yet (its model-index entry has '
            f'"Weights: null"), so pretrained=True cannot load one. Build the model with '
            f'pretrained=False and train it (docs/checkpoints.md), or pass your own '
            f'checkpoint: pretrained="path/or/URL.pth".')
    if url.startswith(HTTP_PREFIXES):
        checkpoint = load_from_http_verified(url, map_location=map_location)
    else:  # a local published file (weights only, like a download)
        checkpoint = load_weights_only(osp.expanduser(url), map_location or 'cpu')
    state_dict = unwrap_state_dict(checkpoint, url)
    if is_timm_layout(list(state_dict)):
        converted, leftover = classifier_timm_to_mmpretrain(state_dict)
        if leftover:
            raise CheckpointFormatError(f'{url}: no mmpretrain classifier key for {leftover}')
        state_dict = converted
    meta = checkpoint.get('meta', {}) if isinstance(checkpoint, dict) else {}
    return {'state_dict': state_dict, 'meta': meta}


def _register_on_import() -> None:
    # A new prefix: added once, never over another loader of the same prefix.
    if checkpoint_schemes().get(ZOO_SCHEME) is None:
        CheckpointLoader.register_scheme(ZOO_SCHEME, load_from_zoo)
    try:
        register_model_zoo()
    except Exception as err:  # a broken metafile must not make the package unimportable
        warnings.warn(f'scalenet_mm: the model zoo ({model_index_file()[0]}) could not be '
                      f'registered with mmpretrain\'s ModelHub: {type(err).__name__}: {err}')


_register_on_import()
