"""ViT checkpoint layouts and the key conversions between them.

Three layouts of the same ViT weights are in use:

* ``'timm'``: timm's ``VisionTransformer`` and the official DeiT releases
  (``{'model': state_dict}``): ``patch_embed.proj``, ``blocks.{i}.norm1``, ``blocks.{i}.attn.qkv``,
  ``blocks.{i}.attn.proj``, ``blocks.{i}.norm2``, ``blocks.{i}.mlp.fc1/fc2``, final ``norm``,
  classifier ``head`` (``dist_token`` and ``head_dist`` in distilled DeiT).
* ``'mmpretrain'``: mmpretrain's ``VisionTransformer`` (``{'state_dict': ...}``, usually under
  ``backbone.`` in a classifier): ``patch_embed.projection``, ``layers.{i}.ln1``,
  ``layers.{i}.attn.qkv``, ``layers.{i}.attn.proj``, ``layers.{i}.ln2``,
  ``layers.{i}.ffn.layers.0.0`` / ``ffn.layers.1``, final ``ln1``; its classifier head is
  ``head.layers.head``. The older mmcv attention naming of OpenMMLab ViTs
  (``attn.attn.in_proj_weight`` / ``attn.attn.out_proj``) is read as the same tensors: both
  hold q, k and v stacked in that order.
* ``'scalenet'``: the ``mmpretrain`` layout for the L shared layers plus ``instances.{i}.*``
  for the per-instance state of a ScaleNet model.

Swin Transformer weights come in four layouts, detected by the same :func:`detect_layout`:

* ``'swin-mmpretrain'``: mmpretrain's and mmdet's ``SwinTransformer`` (``stages.{s}.blocks.{j}``
  with ``attn.w_msa.*`` and ``ffn.layers.*``, ``stages.{s}.downsample`` at the end of a stage,
  output norms ``norm{i}``); ScaleNetSwin uses these names for its shared blocks.
* ``'swin-official'``: Microsoft's original release (``layers.{s}.blocks.{j}.attn.qkv``,
  ``mlp.fc1``, ``layers.{s}.downsample`` at the end of stage ``s`` with the 2x2 patches
  concatenated as ``x0, x1, x2, x3``, final ``norm``, ``head``, ``attn_mask`` buffers). It is
  what mmdet's Swin Mask R-CNN configs start from; converted by mmdet's own ``swin_converter``.
* ``'swin-timm'``: timm >= 0.9 (as the original, but the patch merging sits at the *start*
  of the next stage, ``layers.{s+1}.downsample``, and the head is ``head.fc``).
* ``'scalenet-swin'``: ``'swin-mmpretrain'`` plus ``stages.{s}.instances.{i}.*``.

All functions here map plain ``{name: tensor}`` dicts to new dicts (no model, no I/O); like
timm's ``checkpoint_filter_fn`` they keep format knowledge apart from the model.
"""
import math
import re
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import torch

from .errors import CheckpointFormatError

StateDict = Dict[str, torch.Tensor]

VIT_LAYOUTS = ('timm', 'mmpretrain', 'scalenet')
SWIN_LAYOUTS = ('swin-mmpretrain', 'swin-timm', 'swin-official', 'scalenet-swin')
LAYOUTS = VIT_LAYOUTS + SWIN_LAYOUTS

#: timm / official DeiT backbone names -> mmpretrain names (regex, replacement).
_TIMM_TO_MMPRETRAIN: Sequence[Tuple[str, str]] = (
    (r'^patch_embed\.proj\.(weight|bias)$', r'patch_embed.projection.\1'),
    (r'^blocks\.(\d+)\.norm1\.(weight|bias)$', r'layers.\1.ln1.\2'),
    (r'^blocks\.(\d+)\.attn\.qkv\.(weight|bias)$', r'layers.\1.attn.qkv.\2'),
    (r'^blocks\.(\d+)\.attn\.proj\.(weight|bias)$', r'layers.\1.attn.proj.\2'),
    (r'^blocks\.(\d+)\.norm2\.(weight|bias)$', r'layers.\1.ln2.\2'),
    (r'^blocks\.(\d+)\.mlp\.fc1\.(weight|bias)$', r'layers.\1.ffn.layers.0.0.\2'),
    (r'^blocks\.(\d+)\.mlp\.fc2\.(weight|bias)$', r'layers.\1.ffn.layers.1.\2'),
    (r'^norm\.(weight|bias)$', r'ln1.\1'),
    (r'^(cls_token|pos_embed|dist_token)$', r'\1'),
)

#: mmpretrain backbone names -> timm names (the inverse of the table above).
_MMPRETRAIN_TO_TIMM: Sequence[Tuple[str, str]] = (
    (r'^patch_embed\.projection\.(weight|bias)$', r'patch_embed.proj.\1'),
    (r'^layers\.(\d+)\.ln1\.(weight|bias)$', r'blocks.\1.norm1.\2'),
    (r'^layers\.(\d+)\.attn\.qkv\.(weight|bias)$', r'blocks.\1.attn.qkv.\2'),
    (r'^layers\.(\d+)\.attn\.proj\.(weight|bias)$', r'blocks.\1.attn.proj.\2'),
    (r'^layers\.(\d+)\.ln2\.(weight|bias)$', r'blocks.\1.norm2.\2'),
    (r'^layers\.(\d+)\.ffn\.layers\.0\.0\.(weight|bias)$', r'blocks.\1.mlp.fc1.\2'),
    (r'^layers\.(\d+)\.ffn\.layers\.1\.(weight|bias)$', r'blocks.\1.mlp.fc2.\2'),
    (r'^ln1\.(weight|bias)$', r'norm.\1'),
    (r'^(cls_token|pos_embed|dist_token)$', r'\1'),
)

#: mmcv ``MultiheadAttention`` names used by older OpenMMLab ViTs -> mmpretrain names.
_MMCV_ATTENTION_TO_MMPRETRAIN: Sequence[Tuple[str, str]] = (
    (r'^(layers\.\d+\.attn)\.attn\.in_proj_weight$', r'\1.qkv.weight'),
    (r'^(layers\.\d+\.attn)\.attn\.in_proj_bias$', r'\1.qkv.bias'),
    (r'^(layers\.\d+\.attn)\.attn\.out_proj\.(weight|bias)$', r'\1.proj.\2'),
)

#: Classifier heads: timm name -> mmpretrain name (``VisionTransformerClsHead``/``DeiTClsHead``).
_TIMM_HEAD_TO_MMPRETRAIN: Sequence[Tuple[str, str]] = (
    (r'^head\.(weight|bias)$', r'head.layers.head.\1'),
    (r'^head_dist\.(weight|bias)$', r'head.layers.head_dist.\1'),
)
_MMPRETRAIN_HEAD_TO_TIMM: Sequence[Tuple[str, str]] = (
    (r'^head\.layers\.head\.(weight|bias)$', r'head.\1'),
    (r'^head\.layers\.head_dist\.(weight|bias)$', r'head_dist.\1'),
)

#: timm keys a ViT backbone does not hold by design: classifier heads and the pooled-feature
#: norm of average-pooling models. Loading a backbone reports them as unexpected and goes on.
TIMM_HEAD_PATTERNS = (r'^head\.', r'^head_dist\.', r'^fc_norm\.', r'^pre_logits\.')

#: Containers in which checkpoints keep their weights, tried in this order.
STATE_DICT_CONTAINERS = ('state_dict', 'model', 'module')


def _rename(name: str, table: Sequence[Tuple[str, str]]) -> Optional[str]:
    for pattern, replacement in table:
        if re.match(pattern, name):
            return re.sub(pattern, replacement, name)
    return None


def _convert(state_dict: Mapping[str, torch.Tensor],
             table: Sequence[Tuple[str, str]]) -> Tuple[StateDict, List[str]]:
    converted: StateDict = {}
    leftover: List[str] = []
    for name, value in state_dict.items():
        new = _rename(name, table)
        if new is None:
            leftover.append(name)
        else:
            converted[new] = value
    return converted, leftover


def describe_keys(keys: Sequence[str], limit: int = 8) -> str:
    """Short, readable summary of many keys: layer / instance indices folded to ``*``, counted.

    Up to ``limit`` keys are listed as they are; more are grouped:
    ``['layers.0.ln1.weight', 'layers.1.ln1.weight', 'head.weight', ...]`` gives
    ``'layers.*.ln1.weight (x2), head.weight, ...'``.
    """
    if len(keys) <= limit:
        return ', '.join(keys) if keys else 'none'
    groups: Dict[str, int] = {}
    for key in keys:
        pattern = re.sub(r'^((?:backbone\.)?(?:layers|instances|blocks))\.\d+\.', r'\1.*.', key)
        pattern = re.sub(r'\.(blocks|instances)\.\d+\.', r'.\1.*.', pattern)
        groups[pattern] = groups.get(pattern, 0) + 1
    parts = [f'{p} (x{n})' if n > 1 else p for p, n in groups.items()]
    if len(parts) > limit:
        parts = parts[:limit] + [f'... {len(parts) - limit} more groups']
    return ', '.join(parts) if parts else 'none'


def unwrap_state_dict(checkpoint: Any, source: str = 'checkpoint') -> StateDict:
    """Return the ``{name: tensor}`` dict inside a loaded checkpoint.

    Looks in ``'state_dict'`` (mmengine / mmpretrain / mmdet), ``'model'`` (official DeiT,
    timm training scripts) and ``'module'``, else takes the dict itself; a ``module.`` prefix
    left by DistributedDataParallel on every key is removed.

    Raises:
        CheckpointFormatError: the object holds no tensors by name (not a checkpoint).
    """
    if not isinstance(checkpoint, Mapping):
        raise CheckpointFormatError(
            f'{source} is not a checkpoint: it unpickles to a {type(checkpoint).__name__}, '
            f'not a dict of tensors. Pass a .pth file saved with torch.save(state_dict) or '
            f'an mmengine/timm/DeiT checkpoint.')
    state_dict: Any = checkpoint
    for container in STATE_DICT_CONTAINERS:
        inner = checkpoint.get(container)
        if isinstance(inner, Mapping) and any(
                isinstance(v, torch.Tensor) for v in inner.values()):
            state_dict = inner
            break
    tensors = {k: v for k, v in state_dict.items() if isinstance(v, torch.Tensor)}
    if not tensors:
        raise CheckpointFormatError(
            f'{source} holds no tensors (top-level keys: {sorted(map(str, checkpoint))[:10]}); '
            f'it is not a model checkpoint. Expected a state dict, or one under '
            f'{list(STATE_DICT_CONTAINERS)}.')
    non_tensors = sorted(k for k, v in state_dict.items() if not isinstance(v, torch.Tensor))
    if non_tensors:
        raise CheckpointFormatError(
            f'{source}: the state dict holds non-tensor values under {non_tensors[:10]}; '
            f'a state dict maps names to tensors only. Re-save it with '
            f'torch.save(model.state_dict()).')
    if all(k.startswith('module.') for k in tensors):
        tensors = {k[len('module.'):]: v for k, v in tensors.items()}
    return dict(tensors)


def split_prefix(state_dict: Mapping[str, torch.Tensor],
                 prefix: str) -> Tuple[StateDict, StateDict]:
    """Split into the keys under ``prefix`` (with the prefix removed) and all the others.

    ``prefix`` may be given with or without its trailing dot (``'backbone'`` = ``'backbone.'``),
    as in mmengine's ``PretrainedInit``.
    """
    if prefix and not prefix.endswith('.'):
        prefix += '.'
    inside = {k[len(prefix):]: v for k, v in state_dict.items() if k.startswith(prefix)}
    outside = {k: v for k, v in state_dict.items() if not k.startswith(prefix)}
    return inside, outside


def is_timm_layout(keys: Sequence[str]) -> bool:
    """Whether ``keys`` look like a timm / official DeiT ViT."""
    return any(k.startswith('blocks.') for k in keys) or 'patch_embed.proj.weight' in keys


def detect_layout(state_dict: Mapping[str, torch.Tensor], source: str = 'checkpoint') -> str:
    """Return the layout of a backbone-level state dict.

    ViT: ``'timm'``, ``'mmpretrain'`` or ``'scalenet'``; Swin (checked first: its timm and
    original keys start with ``layers.`` too): one of :data:`SWIN_LAYOUTS`. Use
    :func:`layout_family` to tell the model family of a layout.

    Raises:
        CheckpointFormatError: no key of any known ViT or Swin layout is present.
    """
    keys = list(state_dict)
    swin = swin_layout(keys)
    if swin is not None:
        return swin
    if is_timm_layout(keys):
        return 'timm'
    if any(k.startswith('instances.') for k in keys):
        return 'scalenet'
    if any(k.startswith('layers.') for k in keys) or 'patch_embed.projection.weight' in keys:
        return 'mmpretrain'
    raise CheckpointFormatError(
        f'cannot tell the layout of {source}: it has none of the ViT keys this project reads '
        f'(timm/DeiT "blocks.N.attn.qkv", mmpretrain "layers.N.attn.qkv", ScaleNet '
        f'"instances.N.*") nor Swin keys (mmpretrain/mmdet "stages.S.blocks.N.attn.w_msa.*", '
        f'timm/Microsoft "layers.S.blocks.N.attn.*"); its keys are: {describe_keys(keys)}. If '
        f'the weights sit under a prefix (e.g. "backbone."), pass prefix=...; otherwise this '
        f'is not a ViT or Swin checkpoint.')


def timm_to_mmpretrain(state_dict: Mapping[str, torch.Tensor]) -> Tuple[StateDict, List[str]]:
    """Rename a timm / DeiT backbone to mmpretrain names.

    Returns the converted tensors and the timm names that have no mmpretrain backbone
    counterpart (heads, ``fc_norm``, layer-scale ``ls1.gamma``, ...), left to the caller.
    """
    return _convert(state_dict, _TIMM_TO_MMPRETRAIN)


def mmpretrain_to_timm(state_dict: Mapping[str, torch.Tensor]) -> Tuple[StateDict, List[str]]:
    """Rename an mmpretrain ViT backbone to timm names; returns (converted, leftover names)."""
    return _convert(normalize_mmpretrain(state_dict), _MMPRETRAIN_TO_TIMM)


def normalize_mmpretrain(state_dict: Mapping[str, torch.Tensor]) -> StateDict:
    """Read the mmcv attention names (``attn.attn.in_proj_weight``, ``attn.attn.out_proj``)
    as mmpretrain's fused ``attn.qkv`` / ``attn.proj``; other keys pass unchanged."""
    out: StateDict = {}
    for name, value in state_dict.items():
        out[_rename(name, _MMCV_ATTENTION_TO_MMPRETRAIN) or name] = value
    return out


def classifier_timm_to_mmpretrain(
        state_dict: Mapping[str, torch.Tensor]) -> Tuple[StateDict, List[str]]:
    """Whole timm / DeiT classifier -> mmpretrain ``ImageClassifier`` keys.

    The backbone goes under ``backbone.``; ``head``/``head_dist`` become
    ``head.layers.head``/``head.layers.head_dist`` (mmpretrain's ``VisionTransformerClsHead`` /
    ``DeiTClsHead``). Returns the converted dict and the names it could not place.
    """
    backbone, rest = timm_to_mmpretrain(state_dict)
    heads, leftover = _convert({k: state_dict[k] for k in rest}, _TIMM_HEAD_TO_MMPRETRAIN)
    out = {f'backbone.{k}': v for k, v in backbone.items()}
    out.update(heads)
    return out, leftover


def classifier_mmpretrain_to_timm(
        state_dict: Mapping[str, torch.Tensor]) -> Tuple[StateDict, List[str]]:
    """Whole mmpretrain ``ImageClassifier`` (``backbone.*``, ``head.layers.head``) -> timm keys.

    Returns the converted dict and the names it could not place (a neck, a head with a
    hidden layer, ScaleNet ``instances.*``: export those first).
    """
    backbone, rest = split_prefix(state_dict, 'backbone.')
    converted, leftover = mmpretrain_to_timm(backbone)
    leftover = [f'backbone.{k}' for k in leftover]
    heads, head_leftover = _convert(rest, _MMPRETRAIN_HEAD_TO_TIMM)
    converted.update(heads)
    return converted, leftover + head_leftover


def detect_classifier_layout(state_dict: Mapping[str, torch.Tensor],
                             source: str = 'checkpoint') -> str:
    """Layout of a whole-model state dict: ``'timm'``, ``'mmpretrain'`` or ``'scalenet'``."""
    backbone, _ = split_prefix(state_dict, 'backbone.')
    if backbone:
        return detect_layout(backbone, source)
    return detect_layout(state_dict, source)


def drop_distillation_token(state_dict: StateDict) -> Tuple[StateDict, List[str]]:
    """Remove a distilled DeiT's ``dist_token`` and its position-embedding slot.

    Distilled DeiT has two extra tokens, ``[cls, dist, patches...]``; a model with one class
    token keeps the class slot and the patch grid. Returns the new dict and notes of what was
    done (empty when there was no distillation token).
    """
    if 'dist_token' not in state_dict:
        return state_dict, []
    out = dict(state_dict)
    out.pop('dist_token')
    notes = ['dropped the distillation token "dist_token" (distilled DeiT); the model has '
             'a class token only']
    pos = out.get('pos_embed')
    if pos is not None:
        if pos.shape[1] < 2:
            raise CheckpointFormatError(
                f'pos_embed of shape {tuple(pos.shape)} cannot hold the [cls, dist] slots a '
                f'checkpoint with "dist_token" must have')
        out['pos_embed'] = torch.cat([pos[:, :1], pos[:, 2:]], dim=1)
        notes.append(f'dropped its position-embedding slot 1: pos_embed {tuple(pos.shape)} -> '
                     f'{tuple(out["pos_embed"].shape)}')
    return out, notes


def pos_embed_extra_tokens(pos_embed: torch.Tensor, has_cls_token: bool) -> int:
    """How many leading non-patch slots a (distillation-free) ``pos_embed`` has: 0 or 1.

    Raises:
        CheckpointFormatError: neither reading leaves a square patch grid.
    """
    length = pos_embed.shape[1]
    if has_cls_token and length > 1 and math.isqrt(length - 1)**2 == length - 1:
        return 1
    if math.isqrt(length)**2 == length:
        return 0
    if math.isqrt(length - 1)**2 == length - 1:
        return 1
    raise CheckpointFormatError(
        f'pos_embed of shape {tuple(pos_embed.shape)} does not hold a square patch grid '
        f'(with or without a class-token slot), so it cannot be resized to the model\'s grid')


# ---------------------------------------------------------------------------------- Swin
_SWIN_MMPRETRAIN_BLOCK = re.compile(r'^stages\.\d+\.blocks\.\d+\.attn\.w_msa\.')
_SWIN_INSTANCE = re.compile(r'^stages\.\d+\.instances\.\d+\.')
_SWIN_ORIGINAL_BLOCK = re.compile(
    r'^layers\.\d+\.blocks\.\d+\.attn\.(qkv|proj|relative_position_bias_table)\.?')
#: Buffers that are a function of the window (or of the shift) and never loaded: the model
#: keeps its own (a checkpoint's may be for another window).
SWIN_DERIVED_PATTERNS = (r'(^|\.)relative_position_index$', r'(^|\.)attn_mask$')
#: Unfold order of mmcv's ``PatchMerging`` vs the concatenation ``x0, x1, x2, x3`` of the
#: original / timm patch merging (a permutation that is its own inverse).
_UNFOLD_ORDER = [0, 2, 1, 3]


def swin_layout(keys: Sequence[str]) -> Optional[str]:
    """One of :data:`SWIN_LAYOUTS` when ``keys`` are a Swin backbone's, else None."""
    keys = list(keys)
    if any(_SWIN_MMPRETRAIN_BLOCK.match(k) for k in keys):
        return 'scalenet-swin' if any(_SWIN_INSTANCE.match(k) for k in keys) else 'swin-mmpretrain'
    if any(_SWIN_ORIGINAL_BLOCK.match(k) for k in keys):
        # the original patch merging ends stage 0; timm's starts stage 1 (timm's own test)
        return 'swin-official' if 'layers.0.downsample.reduction.weight' in keys else 'swin-timm'
    return None


def layout_family(layout: str) -> str:
    """``'swin'`` for a layout of :data:`SWIN_LAYOUTS`, else ``'vit'``."""
    return 'swin' if layout in SWIN_LAYOUTS else 'vit'


def _last_stage(keys: Sequence[str], pattern: str) -> int:
    stages = [int(m.group(1)) for k in keys for m in [re.match(pattern, k)] if m]
    return max(stages) if stages else 0


def swin_timm_to_official(state_dict: Mapping[str, torch.Tensor]) -> StateDict:
    """timm Swin names -> the original release's: ``layers.{s+1}.downsample`` ->
    ``layers.{s}.downsample``, ``head.fc`` -> ``head`` (the inverse of timm's filter)."""
    out: StateDict = {}
    for name, value in state_dict.items():
        name = re.sub(r'^layers\.(\d+)\.downsample\.',
                      lambda m: f'layers.{int(m.group(1)) - 1}.downsample.', name)
        out[re.sub(r'^head\.fc\.', 'head.', name)] = value
    return out


def swin_official_to_mmpretrain(
        state_dict: Mapping[str, torch.Tensor]) -> Tuple[StateDict, List[str]]:
    """The original Swin release's names -> mmpretrain's (backbone keys).

    Calls mmdet's ``swin_converter`` (what mmdet's ``SwinTransformer(convert_weights=True)``
    runs: renames, and reorders the patch-merging weights into mmcv's unfold order); the final
    ``norm`` becomes ``norm{last stage}`` (mmpretrain's name). Returns the converted tensors
    and the names left out (the classifier ``head``, which the converter skips).
    """
    from mmdet.models.backbones.swin import swin_converter  # heavy import, only when needed
    heads = [k for k in state_dict if k.startswith('head')]
    body = {k: v for k, v in state_dict.items() if not k.startswith('head')}
    last = _last_stage(list(body), r'^layers\.(\d+)\.')
    out: StateDict = {}
    for name, value in swin_converter(body).items():
        name = name[len('backbone.'):]
        out[re.sub(r'^norm\.', f'norm{last}.', name)] = value
    return out, heads


def _unfold_to_concat(weight: torch.Tensor) -> torch.Tensor:
    """mmcv ``PatchMerging`` channel order (``c * 4 + k``) -> concatenated ``k * C + c``;
    the inverse of mmdet's ``correct_unfold_*_order`` (for a 2-D reduction or a 1-D norm)."""
    if weight.ndim == 1:
        return weight.reshape(-1, 4)[:, _UNFOLD_ORDER].transpose(0, 1).reshape(-1)
    out_channels = weight.shape[0]
    return weight.reshape(out_channels, -1, 4)[:, :, _UNFOLD_ORDER].transpose(1, 2).reshape(
        out_channels, -1)


_SWIN_MMPRETRAIN_TO_TIMM: Sequence[Tuple[str, str]] = (
    (r'^patch_embed\.projection\.(weight|bias)$', r'patch_embed.proj.\1'),
    (r'^patch_embed\.norm\.(weight|bias)$', r'patch_embed.norm.\1'),
    (r'^absolute_pos_embed$', r'absolute_pos_embed'),
    (r'^stages\.(\d+)\.blocks\.(\d+)\.norm([12])\.(weight|bias)$',
     r'layers.\1.blocks.\2.norm\3.\4'),
    (r'^stages\.(\d+)\.blocks\.(\d+)\.attn\.w_msa\.(qkv|proj)\.(weight|bias)$',
     r'layers.\1.blocks.\2.attn.\3.\4'),
    (r'^stages\.(\d+)\.blocks\.(\d+)\.attn\.w_msa\.relative_position_bias_table$',
     r'layers.\1.blocks.\2.attn.relative_position_bias_table'),
    (r'^stages\.(\d+)\.blocks\.(\d+)\.ffn\.layers\.0\.0\.(weight|bias)$',
     r'layers.\1.blocks.\2.mlp.fc1.\3'),
    (r'^stages\.(\d+)\.blocks\.(\d+)\.ffn\.layers\.1\.(weight|bias)$',
     r'layers.\1.blocks.\2.mlp.fc2.\3'),
)


def swin_mmpretrain_to_timm(
        state_dict: Mapping[str, torch.Tensor]) -> Tuple[StateDict, List[str]]:
    """mmpretrain Swin backbone names -> timm's ``SwinTransformer`` (backbone keys).

    Patch merging moves to the start of the next stage (``layers.{s+1}.downsample``) with its
    weights put back in concatenation order; ``norm{last}`` becomes ``norm``; the derived
    ``relative_position_index`` buffers are dropped (timm's are not persistent). Returns the
    converted tensors and the names timm has no place for (output norms of other stages).
    """
    keys = list(state_dict)
    last = _last_stage(keys, r'^stages\.(\d+)\.')
    out: StateDict = {}
    leftover: List[str] = []
    for name, value in state_dict.items():
        if any(re.search(p, name) for p in SWIN_DERIVED_PATTERNS):
            continue
        down = re.match(r'^stages\.(\d+)\.downsample\.(reduction|norm)\.(weight|bias)$', name)
        if down:
            stage, part, kind = down.groups()
            out[f'layers.{int(stage) + 1}.downsample.{part}.{kind}'] = _unfold_to_concat(value)
            continue
        if re.match(rf'^norm{last}\.(weight|bias)$', name):
            out['norm.' + name.split('.')[-1]] = value
            continue
        new = _rename(name, _SWIN_MMPRETRAIN_TO_TIMM)
        if new is None:
            leftover.append(name)
        else:
            out[new] = value
    return out, leftover


def swin_to_mmpretrain(state_dict: Mapping[str, torch.Tensor],
                       layout: str) -> Tuple[StateDict, List[str]]:
    """Any Swin backbone layout -> mmpretrain names; returns (converted, names left out)."""
    if layout in ('swin-mmpretrain', 'scalenet-swin'):
        return dict(state_dict), []
    if layout == 'swin-timm':
        return swin_official_to_mmpretrain(swin_timm_to_official(state_dict))
    if layout == 'swin-official':
        return swin_official_to_mmpretrain(state_dict)
    raise ValueError(f'layout={layout!r} is not a Swin layout; one of {SWIN_LAYOUTS}')
