"""Expand a base checkpoint into a ScaleNet checkpoint: a ViT (DeiT / timm / mmpretrain) into a
``ScaleNetViT`` model, a Swin (mmpretrain / mmdet, timm, Microsoft's release) into a
``ScaleNetSwin`` one.

The ScaleNet model of a config is built, its backbone is filled from the base checkpoint by
:func:`~.loading.load_pretrained` (shared layers or blocks, embeddings, patch merging, norms;
the layout detected from the keys, a checkpoint of another family or shape refused before
anything is loaded), its per-instance state takes its initial values (zero LoRA ``B``, zero
gates, own norms copied from their source layers), and a classifier head of matching shape is
carried over from the base checkpoint. The result is the model's state dict: each shared
tensor appears once.
"""
import re

from typing import Any, Dict, Mapping, Tuple, Union

import torch
import torch.nn as nn
from mmengine.logging import print_log

from .formats import (StateDict, classifier_timm_to_mmpretrain, is_timm_layout, split_prefix,
                      swin_layout, unwrap_state_dict)
from .loading import LoadReport, load_pretrained, read_checkpoint


def _is_scalenet(module: nn.Module) -> bool:
    """A ScaleNetViT (``instances``) or ScaleNetSwin (``stages[s].instances``) backbone."""
    if not hasattr(module, 'sync_instances_from_sources'):
        return False
    return hasattr(module, 'instances') or hasattr(module, 'layer_maps')


def _find_backbone(model: nn.Module) -> Tuple[nn.Module, str]:
    backbone = getattr(model, 'backbone', None)
    if backbone is not None and _is_scalenet(backbone):
        return backbone, 'backbone.'
    if _is_scalenet(model):
        return model, ''
    raise TypeError(f'{type(model).__name__} has no ScaleNetViT or ScaleNetSwin backbone to '
                    f'expand into')


def _head_tensors(state_dict: StateDict) -> StateDict:
    """The classifier-head tensors of a base checkpoint, in mmpretrain names.

    Swin (checked first: timm's Swin also has ``patch_embed.proj``): Microsoft's release names
    its linear head ``head``, mmpretrain's ``LinearClsHead`` and timm ``head.fc``.
    """
    layout = swin_layout(list(state_dict))
    if layout == 'swin-official':
        return {re.sub(r'^head\.(weight|bias)$', r'head.fc.\1', k): v
                for k, v in state_dict.items() if k.startswith('head.')}
    if layout is not None:
        return {k: v for k, v in state_dict.items() if k.startswith('head.')}
    if is_timm_layout(list(state_dict)):
        converted, _ = classifier_timm_to_mmpretrain(state_dict)
        return {k: v for k, v in converted.items() if k.startswith('head.')}
    return {k: v for k, v in state_dict.items() if k.startswith('head.')}


@torch.no_grad()
def expand_checkpoint(base: Union[str, Mapping[str, Any]], model: nn.Module,
                      map_location: Any = 'cpu') -> Tuple[Dict[str, torch.Tensor], LoadReport]:
    """Fill ``model`` (a ScaleNet classifier, detector or bare backbone) from ``base``.

    Args:
        base: path, URL or loaded dict of a checkpoint: for a ScaleNetViT a DeiT / timm /
            mmpretrain / ScaleNet ViT, for a ScaleNetSwin an mmpretrain / mmdet / timm /
            Microsoft / ScaleNet Swin (:func:`~.formats.detect_layout`).
        model: a freshly built model; it is initialised (``init_weights``) and filled in place.
        map_location: as for :func:`torch.load`.

    Returns:
        ``(model.state_dict(), report)``: the expanded weights and the backbone's load report
        (its ``notes`` also say whether a head was carried over).

    Raises:
        CheckpointMismatchError: ``base`` is of the other family (a ViT for a Swin backbone or
            the reverse) or of other widths / layers / blocks per stage; nothing of it is
            loaded.
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
