"""``load_pretrained``: load a DeiT / timm / mmpretrain / ScaleNet checkpoint into a ViT backbone,
or a Swin checkpoint (mmpretrain / mmdet, timm, Microsoft's release, ScaleNet) into a Swin one.

The layout is recognised from the keys (:mod:`.formats`), converted to the backbone's
mmpretrain names, and checked against the model *before* any tensor is copied: a checkpoint
for another architecture (other width, other layer count, any shape mismatch) or one missing
pretrained tensors raises :class:`~.errors.CheckpointMismatchError` naming the keys and shapes,
and the model is left untouched. Position embeddings are resized to the model's patch grid
(as mmpretrain does), a distilled DeiT's distillation token is dropped with its
position slot, and classifier heads are reported as unused. What was loaded, missing and
unused is returned as a :class:`LoadReport` and logged through mmengine's logger.

Swin backbones (``ScaleNetSwin``, mmpretrain's / mmdet's ``SwinTransformer``) are recognised
from their own keys: a checkpoint of the other family (a ViT checkpoint given to a Swin, or
the reverse) is refused before anything else, naming both. Swin relative-position bias tables
are resized when the window differs (e.g. 7 -> 12 for 384 px) by timm's
``resize_rel_pos_bias_table``, what timm's Swin loader runs (mmpretrain's own resize calls
scipy's ``interp2d``, removed in SciPy 1.14),
the derived ``relative_position_index`` / ``attn_mask`` buffers are never taken from a
checkpoint, and output norms of stages the checkpoint has no norm for (``norm0-2`` of a
classification checkpoint in a detection backbone) keep their initial values.
"""
import os
import pickle
import re
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Set, Tuple, Union

import torch
import torch.nn as nn
from mmengine.logging import print_log
from mmengine.runner.checkpoint import CheckpointLoader
from mmpretrain.models.backbones.swin_transformer import SwinTransformer
from mmpretrain.models.backbones.vision_transformer import VisionTransformer
from mmpretrain.models.utils import resize_pos_embed
from timm.layers import resize_rel_pos_bias_table

from .errors import CheckpointFormatError, CheckpointMismatchError
from .formats import (SWIN_DERIVED_PATTERNS, TIMM_HEAD_PATTERNS, StateDict, describe_keys,
                      detect_layout, drop_distillation_token, layout_family,
                      normalize_mmpretrain, pos_embed_extra_tokens, split_prefix, swin_layout,
                      swin_to_mmpretrain, timm_to_mmpretrain, unwrap_state_dict)

#: Model keys a base checkpoint may lack without an error: the per-instance state of a
#: ScaleNet model (adapters start at their init) and the avg-pool norm ``ln2``.
OPTIONAL_MODEL_KEYS = (r'^instances\.', r'^ln2\.')
#: The same for a Swin backbone: per-instance state, output norms of stages the checkpoint
#: has none for, and the derived buffers (the model keeps its own).
OPTIONAL_SWIN_MODEL_KEYS = (r'^stages\.\d+\.instances\.', r'^norm\d+\.') + SWIN_DERIVED_PATTERNS


@dataclass
class LoadReport:
    """What :func:`load_pretrained` did.

    Attributes:
        checkpoint: the path or URL loaded (``'<state dict>'`` for an in-memory dict).
        source_format: the layout recognised: ``'timm'`` (official DeiT and timm),
            ``'mmpretrain'`` or ``'scalenet'``.
        loaded_keys: the model's state-dict keys that received checkpoint tensors.
        missing_keys: the model's keys the checkpoint did not provide (they keep their
            initial values: per-instance adapters, gates, own norms of a ScaleNet model).
        unexpected_keys: the checkpoint's keys (original names) that the model does not use,
            such as classifier heads, ``fc_norm`` or a distillation token.
        notes: conversions that were applied (prefix taken, pos_embed resized, ...).
    """
    checkpoint: str
    source_format: str
    loaded_keys: List[str] = field(default_factory=list)
    missing_keys: List[str] = field(default_factory=list)
    unexpected_keys: List[str] = field(default_factory=list)
    notes: List[str] = field(default_factory=list)

    def summary(self) -> str:
        """Multi-line human summary (the text that is logged)."""
        lines = [f'Loaded {self.checkpoint} ({self.source_format} layout): '
                 f'{len(self.loaded_keys)} tensors used.',
                 f'  used:       {describe_keys(self.loaded_keys)}',
                 f'  missing:    {describe_keys(self.missing_keys)}'
                 + (' (kept their initial values)' if self.missing_keys else ''),
                 f'  unexpected: {describe_keys(self.unexpected_keys)}'
                 + (' (not used by the backbone)' if self.unexpected_keys else '')]
        lines += [f'  note: {note}' for note in self.notes]
        return '\n'.join(lines)


def _matches(name: str, patterns: Tuple[str, ...]) -> bool:
    return any(re.match(p, name) for p in patterns)


def _layer_indices(keys: Any) -> Set[int]:
    return {int(m.group(1)) for k in keys for m in [re.match(r'^layers\.(\d+)\.', k)] if m}


def _arch_of(state_dict: Mapping[str, torch.Tensor]) -> Dict[str, Any]:
    """What can be read of a ViT's architecture from mmpretrain-named tensors."""
    arch: Dict[str, Any] = {}
    proj = state_dict.get('patch_embed.projection.weight')
    if proj is not None and proj.ndim == 4:
        arch['embed_dims'] = proj.shape[0]
        arch['patch_size'] = proj.shape[-1]
    layers = _layer_indices(state_dict)
    if layers:
        arch['num_layers'] = max(layers) + 1
    fc1 = state_dict.get('layers.0.ffn.layers.0.0.weight')
    if fc1 is not None:
        arch['feedforward_channels'] = fc1.shape[0]
    return arch


def _arch_hint(ckpt_arch: Dict[str, Any]) -> str:
    """Suggest the mmpretrain arch names whose sizes match the checkpoint's."""
    keys = ('embed_dims', 'num_layers', 'feedforward_channels')
    if not all(k in ckpt_arch for k in keys):
        return ''
    names = sorted(name for name, spec in VisionTransformer.arch_zoo.items()
                   if all(spec.get(k) == ckpt_arch[k] for k in keys))
    sizes = ', '.join(f'{k}={ckpt_arch[k]}' for k in keys)
    hint = f'The checkpoint is a ViT with {sizes}, patch_size={ckpt_arch.get("patch_size")}'
    if names:
        hint += f' (mmpretrain arch {names})'
    return hint + '.'


def _model_arch(model: nn.Module, model_sd: Mapping[str, torch.Tensor]) -> str:
    parts = [f'{type(model).__name__}']
    arch = _arch_of(model_sd)
    parts.append(', '.join(f'{k}={v}' for k, v in arch.items()))
    depth = getattr(model, 'depth', None)
    if depth is not None:
        parts.append(f'depth={depth}')
    return f'{parts[0]}({", ".join(parts[1:])})'


def _adapt_pos_embed(pos: torch.Tensor, has_cls_token: bool, model: nn.Module,
                     target: torch.Tensor, notes: List[str], problems: List[str]) -> torch.Tensor:
    """Fit the checkpoint's pos_embed (distillation slot already removed) to the model's."""
    if pos.ndim != 3 or pos.shape[-1] != target.shape[-1]:
        problems.append(f'pos_embed: checkpoint {tuple(pos.shape)} vs model '
                        f'{tuple(target.shape)} (embedding width differs)')
        return pos
    try:
        extra = pos_embed_extra_tokens(pos, has_cls_token)
    except CheckpointFormatError as err:
        problems.append(str(err))
        return pos
    model_extra = int(getattr(model, 'num_extra_tokens', target.shape[1] - _grid_tokens(model)))
    if extra == 1 and model_extra == 0:
        pos = pos[:, 1:]
        notes.append('dropped the class-token slot of pos_embed (the model has no class token)')
    elif extra == 0 and model_extra == 1:
        problems.append(f'pos_embed: checkpoint {tuple(pos.shape)} has no class-token slot but '
                        f'the model has a class token (model pos_embed {tuple(target.shape)}); '
                        f'build the backbone with with_cls_token=False')
        return pos
    side = int(round((pos.shape[1] - model_extra)**0.5))
    grid = tuple(getattr(model, 'patch_resolution', (side, side)))
    if (side, side) != grid:
        before = tuple(pos.shape)
        pos = resize_pos_embed(pos, (side, side), grid,
                               mode=getattr(model, 'interpolate_mode', 'bicubic'),
                               num_extra_tokens=model_extra)
        notes.append(f'resized pos_embed {before} -> {tuple(pos.shape)} (patch grid '
                     f'{side}x{side} -> {grid[0]}x{grid[1]})')
    return pos


def _grid_tokens(model: nn.Module) -> int:
    grid = getattr(model, 'patch_resolution', None)
    return int(grid[0] * grid[1]) if grid else 0


def match_state_dict(model: nn.Module, state_dict: Mapping[str, torch.Tensor],
                     source: str = 'checkpoint', prefix: Optional[str] = None,
                     strict_shared: bool = True) -> Tuple[StateDict, LoadReport]:
    """Convert and check a checkpoint's tensors against ``model`` without changing it.

    Returns the tensors to load (model names, final shapes) and the report. This is the whole
    decision of :func:`load_pretrained`; keeping it free of side effects is what makes a
    refused load leave the model untouched.

    Raises:
        CheckpointFormatError: no ViT or Swin layout recognised (or nothing under ``prefix``).
        CheckpointMismatchError: a checkpoint of the other family (ViT vs Swin), shapes
            differ, the checkpoint holds tensors the model has no place for, or
            (``strict_shared``) pretrained tensors of the model are missing.
    """
    notes: List[str] = []
    unexpected: List[str] = []
    sd: StateDict = dict(state_dict)
    if prefix:
        sd, outside = split_prefix(sd, prefix)
        if not sd:
            raise CheckpointFormatError(
                f'{source} has no keys under prefix {prefix!r}; its keys are '
                f'{describe_keys(list(state_dict))}. Pass prefix=None to detect the layout.')
        unexpected += list(outside)
        notes.append(f'used the keys under prefix {prefix!r}')
    else:
        try:
            detect_layout(sd, source)
        except CheckpointFormatError:
            inner, outside = split_prefix(sd, 'backbone.')
            if not inner:
                raise
            sd = inner
            unexpected += list(outside)
            notes.append('used the keys under "backbone." (a whole-model checkpoint)')
    layout = detect_layout(sd, source)
    model_sd = model.state_dict()
    model_family = 'swin' if swin_layout(list(model_sd)) else 'vit'
    if layout_family(layout) != model_family:
        raise CheckpointMismatchError(_family_mismatch(source, layout, model, model_family))
    if model_family == 'swin':
        return _match_swin(model, model_sd, sd, layout, source, notes, unexpected,
                           strict_shared)

    not_placed: List[str] = []
    if layout == 'timm':
        sd, leftover = timm_to_mmpretrain(sd)
        for name in leftover:
            (unexpected if _matches(name, TIMM_HEAD_PATTERNS) else not_placed).append(name)
    else:
        sd = normalize_mmpretrain(sd)
    if 'dist_token' in sd:
        sd, dist_notes = drop_distillation_token(sd)
        notes += dist_notes
        unexpected.append('dist_token')

    problems: List[str] = []
    mismatched: List[str] = []
    to_load: StateDict = {}
    for name, value in sd.items():
        if name not in model_sd:
            if name == 'cls_token' or re.match(r'^ln[12]\.', name):
                unexpected.append(name)  # the model has no class token / final norm here
            else:
                not_placed.append(name)
            continue
        target = model_sd[name]
        if name == 'pos_embed':
            known = len(problems)
            value = _adapt_pos_embed(value, 'cls_token' in sd, model, target, notes, problems)
            if len(problems) > known:
                continue
        if tuple(value.shape) != tuple(target.shape):
            mismatched.append(f'{name}: checkpoint {tuple(value.shape)} vs model '
                              f'{tuple(target.shape)}')
            continue
        to_load[name] = value

    missing = [k for k in model_sd if k not in sd]
    required_missing = [k for k in missing if not _matches(k, OPTIONAL_MODEL_KEYS)]

    ckpt_layers, model_layers = _layer_indices(sd), _layer_indices(model_sd)
    if ckpt_layers and model_layers and max(ckpt_layers) != max(model_layers):
        problems.append(f'the checkpoint has {max(ckpt_layers) + 1} pretrained layers '
                        f'(layers.0-{max(ckpt_layers)}), the model has {max(model_layers) + 1}')
    problems += _placement_problems(mismatched, not_placed, required_missing, strict_shared)
    if problems:
        ckpt_arch = _arch_of(sd)
        hint = _arch_hint(ckpt_arch) if ckpt_arch != _arch_of(model_sd) else ''
        raise CheckpointMismatchError(
            f'{source} ({layout} layout) does not fit {_model_arch(model, model_sd)}; nothing '
            f'was loaded:\n  - ' + '\n  - '.join(problems) + '\n'
            f'{hint + " " if hint else ""}Fix: build the backbone with the architecture the '
            f'checkpoint was trained with (arch=..., and for a ScaleNet checkpoint the same '
            f'depth/adapter settings), or use a checkpoint of this model\'s architecture.')

    report = LoadReport(checkpoint=source, source_format=layout, loaded_keys=sorted(to_load),
                        missing_keys=missing, unexpected_keys=unexpected, notes=notes)
    return to_load, report


def _family_mismatch(source: str, layout: str, model: nn.Module, model_family: str) -> str:
    """The message for a checkpoint of the other model family (ViT vs Swin)."""
    names = {'vit': 'ViT', 'swin': 'Swin Transformer'}
    ckpt_family = layout_family(layout)
    fix = ('a Swin checkpoint (mmpretrain / mmdet, timm or the official Microsoft release)'
           if model_family == 'swin' else 'a ViT / DeiT checkpoint')
    other = 'ScaleNetSwin' if ckpt_family == 'swin' else 'ScaleNetViT'
    return (f'{source} is a {names[ckpt_family]} checkpoint ({layout} layout) but '
            f'{type(model).__name__} is a {names[model_family]} backbone; nothing was loaded. '
            f'Fix: give this backbone {fix}, or build a {other} backbone for this checkpoint.')


def _swin_blocks(keys: Any) -> Dict[int, int]:
    """Blocks per stage of mmpretrain-named Swin keys: ``{stage: count}``."""
    found: Dict[int, Set[int]] = {}
    for key in keys:
        m = re.match(r'^stages\.(\d+)\.blocks\.(\d+)\.', key)
        if m:
            found.setdefault(int(m.group(1)), set()).add(int(m.group(2)))
    return {stage: max(blocks) + 1 for stage, blocks in sorted(found.items())}


def _swin_arch_of(state_dict: Mapping[str, torch.Tensor]) -> Dict[str, Any]:
    """What can be read of a Swin's architecture from mmpretrain-named tensors."""
    arch: Dict[str, Any] = {}
    proj = state_dict.get('patch_embed.projection.weight')
    if proj is not None and proj.ndim == 4:
        arch['embed_dims'] = int(proj.shape[0])
        arch['patch_size'] = int(proj.shape[-1])
    blocks = _swin_blocks(state_dict)
    if blocks:
        arch['depths'] = [blocks.get(s, 0) for s in range(max(blocks) + 1)]
    heads = []
    for stage in sorted(blocks):
        table = state_dict.get(f'stages.{stage}.blocks.0.attn.w_msa.relative_position_bias_table')
        if table is not None:
            heads.append(int(table.shape[1]))
            arch.setdefault('window_size', int(round((table.shape[0]**0.5 + 1) / 2)))
    if heads:
        arch['num_heads'] = heads
    return arch


def _swin_arch_hint(ckpt_arch: Dict[str, Any]) -> str:
    """Name the mmpretrain Swin archs whose sizes match the checkpoint's."""
    keys = ('embed_dims', 'depths', 'num_heads')
    if not all(k in ckpt_arch for k in keys):
        return ''
    names = sorted(name for name, spec in SwinTransformer.arch_zoo.items() if len(name) > 1
                   and all(list(spec[k]) == list(ckpt_arch[k]) if k != 'embed_dims'
                           else spec[k] == ckpt_arch[k] for k in keys))
    sizes = ', '.join(f'{k}={ckpt_arch[k]}' for k in keys + ('window_size', 'patch_size')
                      if k in ckpt_arch)
    return f'The checkpoint is a Swin with {sizes}' + (f' (arch {names})' if names else '') + '.'


def _match_swin(model: nn.Module, model_sd: Mapping[str, torch.Tensor], sd: StateDict,
                layout: str, source: str, notes: List[str], unexpected: List[str],
                strict_shared: bool) -> Tuple[StateDict, 'LoadReport']:
    """:func:`match_state_dict` for a Swin backbone (its keys in mmpretrain's names)."""
    original = list(sd)
    sd, left_out = swin_to_mmpretrain(sd, layout)
    if layout in ('swin-timm', 'swin-official'):
        notes.append(f'converted the {layout} names to mmpretrain\'s (mmdet swin_converter)')
        left_out = [k for k in original if k.startswith('head')]  # their original names
    unexpected += left_out
    problems: List[str] = []
    mismatched: List[str] = []
    not_placed: List[str] = []
    to_load: StateDict = {}
    derived = 0
    resized = 0
    for name, value in sd.items():
        if _matches_any(name, SWIN_DERIVED_PATTERNS):
            derived += 1
            continue
        if name not in model_sd:
            if re.match(r'^norm\d+\.', name) or name.startswith('head.'):
                unexpected.append(name)  # an output norm of a stage the model does not return
            else:
                not_placed.append(name)
            continue
        target = model_sd[name]
        if (name.endswith('relative_position_bias_table') and value.ndim == 2
                and value.shape != target.shape and value.shape[1] == target.shape[1]):
            src, dst = int(round(value.shape[0]**0.5)), int(round(target.shape[0]**0.5))
            if src * src == value.shape[0] and dst * dst == target.shape[0] and dst % 2:
                window = (dst + 1) // 2
                value = resize_rel_pos_bias_table(value, (window, window),
                                                  tuple(target.shape)).to(value.dtype)
                resized += 1
        if name == 'absolute_pos_embed' and value.ndim == 3 and value.shape != target.shape \
                and value.shape[-1] == target.shape[-1]:
            side = int(round(value.shape[1]**0.5))
            grid = tuple(getattr(model, 'patch_resolution', (side, side)))
            if side * side == value.shape[1]:
                value = resize_pos_embed(value, (side, side), grid,
                                         getattr(model, 'interpolate_mode', 'bicubic'), 0)
                notes.append(f'resized absolute_pos_embed to the {grid[0]}x{grid[1]} patch grid')
        if tuple(value.shape) != tuple(target.shape):
            mismatched.append(f'{name}: checkpoint {tuple(value.shape)} vs model '
                              f'{tuple(target.shape)}')
            continue
        to_load[name] = value
    if resized:
        notes.append(f'resized {resized} relative-position bias tables to the model\'s window '
                     f'(timm resize_rel_pos_bias_table)')
    if derived:
        notes.append(f'kept the model\'s own {derived} derived buffers '
                     f'(relative_position_index / attn_mask)')
    # derived buffers are not "missing": the model's own are the right ones (see the note)
    missing = [k for k in model_sd
               if k not in to_load and not _matches_any(k, SWIN_DERIVED_PATTERNS)]
    required_missing = [k for k in model_sd if k not in sd
                        and not _matches_any(k, OPTIONAL_SWIN_MODEL_KEYS)]

    ckpt_blocks, model_blocks = _swin_blocks(sd), _swin_blocks(model_sd)
    if ckpt_blocks and ckpt_blocks != model_blocks:
        problems.append(f'the checkpoint has {list(ckpt_blocks.values())} pretrained blocks per '
                        f'stage, the model {list(model_blocks.values())}')
    problems += _placement_problems(mismatched, not_placed, required_missing, strict_shared)
    if problems:
        ckpt_arch, model_arch = _swin_arch_of(sd), _swin_arch_of(model_sd)
        hint = _swin_arch_hint(ckpt_arch) if ckpt_arch != model_arch else ''
        sizes = ', '.join(f'{k}={v}' for k, v in model_arch.items())
        raise CheckpointMismatchError(
            f'{source} ({layout} layout) does not fit {type(model).__name__}({sizes}); nothing '
            f'was loaded:\n  - ' + '\n  - '.join(problems) + '\n'
            f'{hint + " " if hint else ""}Fix: build the backbone with the arch the checkpoint '
            f'was trained with (arch=..., and for a ScaleNet checkpoint the same depth/adapter '
            f'settings), or use a checkpoint of this model\'s architecture.')
    report = LoadReport(checkpoint=source, source_format=layout, loaded_keys=sorted(to_load),
                        missing_keys=missing, unexpected_keys=unexpected, notes=notes)
    return to_load, report


def _matches_any(name: str, patterns: Tuple[str, ...]) -> bool:
    return any(re.search(p, name) for p in patterns)


def read_checkpoint(checkpoint: Union[str, os.PathLike, Mapping[str, Any]],
                    map_location: Any = 'cpu', logger: Any = 'current') -> Tuple[Any, str]:
    """Load a checkpoint through mmengine's ``CheckpointLoader`` or take an in-memory dict.

    ``http(s)://`` URLs go through this project's verified download (weights only); local
    paths through the local scheme registered by :mod:`scalenet_mm.runtime`, which treats the
    user's own files (Runner checkpoints included) as trusted, as ``load_from`` does. A file
    that is not a checkpoint raises :class:`CheckpointFormatError`. Returns (object, name).
    """
    if isinstance(checkpoint, (str, os.PathLike)):
        name = os.fspath(checkpoint)
        try:
            return CheckpointLoader.load_checkpoint(name, map_location=map_location,
                                                    logger=logger), name
        except (pickle.UnpicklingError, EOFError) as err:
            raise CheckpointFormatError(
                f'{name} is not a PyTorch checkpoint ({type(err).__name__}: {err}); pass a '
                f'file written by torch.save') from None
        except RuntimeError as err:
            if type(err) is not RuntimeError:  # our DownloadError etc. already say it all
                raise
            first = str(err).splitlines()[0][:200]
            raise CheckpointFormatError(
                f'{name} is not a readable PyTorch checkpoint: {first}. The file may be '
                f'truncated or corrupted; download or save it again.') from None
    if isinstance(checkpoint, Mapping):
        return checkpoint, '<state dict>'
    raise TypeError(f'checkpoint must be a path, a URL or a state dict, got '
                    f'{type(checkpoint).__name__}')


def load_pretrained(model: nn.Module,
                    checkpoint: Union[str, os.PathLike, Mapping[str, Any]],
                    prefix: Optional[str] = None,
                    map_location: Any = 'cpu',
                    strict_shared: bool = True,
                    logger: Any = 'current') -> LoadReport:
    """Load pretrained ViT weights of any supported layout into a ViT backbone.

    Works for :class:`~scalenet_mm.models.ScaleNetViT` and for mmpretrain's
    ``VisionTransformer`` (same names). Base checkpoints (DeiT, timm, mmpretrain) fill the
    shared layers, embeddings and final norm; a ScaleNet model's per-instance keys
    (``instances.*``) then keep their initial values, which is normal.

    Args:
        model: the backbone to fill.
        checkpoint: a local path, an ``http(s)://`` URL (downloaded and verified by
            :mod:`.download`), any other mmengine checkpoint scheme, or a loaded dict.
        prefix: take only the keys under this prefix (e.g. ``'backbone.'``); by default a
            whole-model checkpoint's ``backbone.`` keys are found automatically.
        map_location: as for :func:`torch.load`.
        strict_shared: raise when the checkpoint lacks any of the model's non-instance
            tensors (shared layers, embeddings, final norm). With False they are reported
            as missing and keep their initial values.
        logger: mmengine logger (name or instance) that receives the summary.

    Returns:
        The :class:`LoadReport` (also logged).

    Raises:
        CheckpointMismatchError: the checkpoint is for another architecture (keys and shapes
            are named); the model is unchanged.
        CheckpointFormatError: the file is not a ViT checkpoint of a known layout.
    """
    raw, source = read_checkpoint(checkpoint, map_location, logger)
    state_dict = unwrap_state_dict(raw, source)
    to_load, report = match_state_dict(model, state_dict, source, prefix, strict_shared)
    result = model.load_state_dict(to_load, strict=False)
    if result.unexpected_keys:  # cannot happen after match_state_dict; guard the invariant
        raise CheckpointMismatchError(f'{source}: unexpected keys {result.unexpected_keys}')
    print_log(report.summary(), logger=logger)
    return report


def _placement_problems(mismatched: List[str], not_placed: List[str],
                        required_missing: List[str], strict_shared: bool) -> List[str]:
    """The refusal reasons both the ViT and the Swin matcher give: shape mismatches,
    checkpoint tensors with no place in the model, and (``strict_shared``) pretrained tensors
    of the model the checkpoint lacks."""
    problems = []
    if mismatched:
        problems.append(f'{len(mismatched)} shape mismatches: ' + '; '.join(mismatched[:12])
                        + (f'; ... {len(mismatched) - 12} more' if len(mismatched) > 12 else ''))
    if not_placed:
        problems.append(f'the model has no place for {len(not_placed)} checkpoint tensors: '
                        f'{describe_keys(not_placed)}')
    if required_missing and strict_shared:
        problems.append(f'{len(required_missing)} pretrained tensors of the model are missing '
                        f'from the checkpoint: {describe_keys(required_missing)}')
    return problems
