"""Expand a base ViT checkpoint (DeiT / timm / mmpretrain) into a ScaleNet checkpoint.

The ScaleNet model of a config is built, its backbone is filled from the base checkpoint by
:func:`~.loading.load_pretrained` (shared layers, embeddings, final norm), its per-instance
state takes its initial values (zero LoRA ``B``, zero gates, own norms copied from their
source layers), and a classifier head of matching shape is carried over from the base
checkpoint. The result is the model's state dict: each shared tensor appears once.
"""
from typing import Any, Dict, Mapping, Tuple, Union

import torch
import torch.nn as nn
from mmengine.logging import print_log

from .formats import (StateDict, classifier_timm_to_mmpretrain, is_timm_layout, split_prefix,
                      unwrap_state_dict)
from .loading import LoadReport, load_pretrained, read_checkpoint


def _find_backbone(model: nn.Module) -> Tuple[nn.Module, str]:
    backbone = getattr(model, 'backbone', None)
    if backbone is not None and hasattr(backbone, 'instances'):
        return backbone, 'backbone.'
    if hasattr(model, 'instances'):
        return model, ''
    raise TypeError(f'{type(model).__name__} has no ScaleNetViT backbone to expand into')


def _head_tensors(state_dict: StateDict) -> StateDict:
    """The classifier-head tensors of a base checkpoint, in mmpretrain names."""
    if is_timm_layout(list(state_dict)):
        converted, _ = classifier_timm_to_mmpretrain(state_dict)
        return {k: v for k, v in converted.items() if k.startswith('head.')}
    return {k: v for k, v in state_dict.items() if k.startswith('head.')}


@torch.no_grad()
def expand_checkpoint(base: Union[str, Mapping[str, Any]], model: nn.Module,
                      map_location: Any = 'cpu') -> Tuple[Dict[str, torch.Tensor], LoadReport]:
    """Fill ``model`` (a ScaleNet classifier, detector or bare backbone) from ``base``.

    Args:
        base: path, URL or loaded dict of a DeiT / timm / mmpretrain / ScaleNet checkpoint.
        model: a freshly built model; it is initialised (``init_weights``) and filled in place.
        map_location: as for :func:`torch.load`.

    Returns:
        ``(model.state_dict(), report)``: the expanded weights and the backbone's load report
        (its ``notes`` also say whether a head was carried over).
    """
    raw, source = read_checkpoint(base, map_location)
    state_dict = unwrap_state_dict(raw, source)
    backbone, prefix = _find_backbone(model)
    # Initialise from scratch first (adapters, gates, heads) without the backbone's own
    # ``init_cfg`` checkpoint: the weights come from ``base``. The backbone is then marked
    # initialised, so the model's mmengine ``init_weights`` skips it and does the rest.
    backbone.init_weights(load_pretrained=False)
    if backbone is not model:
        model.init_weights()
    report = load_pretrained(backbone, state_dict, map_location=map_location)
    report.checkpoint = source
    # own norms of instances that the checkpoint did not provide start as their source's
    backbone.sync_instances_from_sources(skip_keys=set(report.loaded_keys))

    if prefix:
        model_sd = model.state_dict()
        candidates = _head_tensors(split_prefix(state_dict, 'backbone.')[1]
                                   if any(k.startswith('backbone.') for k in state_dict)
                                   else state_dict)
        carried = {k: v for k, v in candidates.items()
                   if k in model_sd and tuple(model_sd[k].shape) == tuple(v.shape)}
        skipped = sorted(set(candidates) - set(carried))
        if carried:
            model.load_state_dict(carried, strict=False)
            report.notes.append(f'carried the classifier head over: {sorted(carried)}')
        if skipped:
            report.notes.append(f'head tensors not carried (other shape or no such module): '
                                f'{skipped}; the head keeps its initial values')
    print_log('Expanded checkpoint:\n' + report.summary(), logger='current')
    return model.state_dict(), report
