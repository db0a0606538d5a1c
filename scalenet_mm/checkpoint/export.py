"""Export a trained ScaleNet model as a plain L'-layer ViT that needs no plugin.

Every layer instance becomes an ordinary transformer layer with its own tensors: LoRA
deltas are folded into the weights (``W + scaling * B @ A``), per-channel gates are folded
into the rows and biases of ``attn.proj`` / ``fc2`` (``g * (W x + b) = (diag(g) W) x + g b``),
own LayerNorms replace the shared ones, and sharing is undone (each layer gets a copy).
The result loads into stock mmpretrain ``VisionTransformer(num_layers=L')`` or, in the timm
layout, into timm's ``VisionTransformer(depth=L')``, and computes the same outputs.

Bottleneck adapters (a non-linear side branch) and window attention / relative position
tables have no counterpart in a plain ViT; exporting such a model is refused with the reason.

A ``ScaleNetSwin`` is exported the same way to a plain Swin whose stage ``s`` has ``D_s``
blocks: mmpretrain's ``SwinTransformer(arch=dict(depths=D))`` (``stages.{s}.blocks.{i}``) or
timm's ``SwinTransformer(depths=D)`` (``layers.{s}.blocks.{i}``). Each instance's shift is its
position's (odd = shifted), which is what both plain models hard-code, so the outputs match.
"""
from typing import Any, Dict, List

import torch
import torch.nn as nn

from .errors import ExportError
from .formats import (StateDict, classifier_mmpretrain_to_timm, mmpretrain_to_timm,
                      swin_mmpretrain_to_timm)

EXPORT_LAYOUTS = ('mmpretrain', 'timm')


def _swin_backbone(model: nn.Module) -> Any:
    """The ScaleNetSwin backbone of ``model`` (or ``model`` itself), else None."""
    backbone = getattr(model, 'backbone', model)
    if hasattr(backbone, 'stages') and hasattr(backbone, 'layer_maps'):
        return backbone
    return None


def _scalenet_backbone(model: nn.Module) -> nn.Module:
    backbone = getattr(model, 'backbone', model)
    if not hasattr(backbone, 'instances') or not hasattr(backbone, 'layer_map'):
        raise ExportError(f'{type(backbone).__name__} is not a ScaleNetViT backbone (no '
                          f'"instances"/"layer_map"); only ScaleNet models are exported')
    return backbone


def export_blockers(backbone: nn.Module) -> List[str]:
    """Reasons why ``backbone`` cannot be written as a plain ViT / Swin (empty when it can)."""
    if _swin_backbone(backbone) is not None:
        backbone = _swin_backbone(backbone)
        bottleneck = [f'stages.{s}.instances.{i}' for s, stage in enumerate(backbone.stages)
                      for i, inst in enumerate(stage.instances) if len(inst.adapter)]
        if bottleneck:
            return [f'{describe(bottleneck)} use bottleneck adapters: a non-linear side branch '
                    f'that cannot be folded into the linear weights (only LoRA is mergeable)']
        return []
    reasons = []
    bottleneck = [i for i, inst in enumerate(backbone.instances) if len(inst.adapter)]
    if bottleneck:
        reasons.append(f'instances {bottleneck} use bottleneck adapters: a non-linear side '
                       f'branch that cannot be folded into the linear weights (only LoRA is '
                       f'mergeable)')
    windowed = [i for i, inst in enumerate(backbone.instances) if inst.window_size > 0]
    if windowed:
        reasons.append(f'instances {windowed} use window attention, which a plain ViT does '
                       f'not have')
    rel_pos = [i for i, inst in enumerate(backbone.instances) if inst.rel_pos_h is not None]
    if rel_pos:
        reasons.append(f'instances {rel_pos} use relative position tables, which a plain ViT '
                       f'does not have')
    return reasons


def describe(names: List[str], limit: int = 6) -> str:
    """``a, b, c`` or ``a, b, ... (N in all)``."""
    if len(names) <= limit:
        return ', '.join(names)
    return ', '.join(names[:limit]) + f', ... ({len(names)} in all)'


def _check_exportable(backbone: nn.Module) -> None:
    reasons = export_blockers(backbone)
    if reasons:
        raise ExportError('cannot export this ScaleNet model as a plain ViT: '
                          + '; '.join(reasons) + '. Export works for LoRA adapters (merged), '
                          'gates and own norms with global attention; keep the model in the '
                          'ScaleNet layout (it loads with scalenet_mm installed).')


def _merged(linear: nn.Linear, instance: nn.Module, target: str) -> torch.Tensor:
    if target in instance.lora:
        return instance.lora[target].merged_weight(linear.weight)
    return linear.weight


def _gated(weight: torch.Tensor, bias: Any, gate: Any) -> tuple:
    if gate is None:
        return weight, bias
    weight = weight * gate[:, None]
    bias = gate * bias if bias is not None else None
    return weight, bias


def _norm_state(norm: nn.Module, prefix: str) -> StateDict:
    return {f'{prefix}.{k}': v for k, v in norm.state_dict().items()}


@torch.no_grad()
def export_plain_state_dict(backbone: nn.Module, layout: str = 'mmpretrain') -> Dict[str, torch.Tensor]:
    """The plain-ViT state dict equivalent to a ScaleNet backbone (backbone-level keys).

    Args:
        backbone: a :class:`~scalenet_mm.models.ScaleNetViT` (or a model whose ``.backbone``
            is one).
        layout: ``'mmpretrain'`` (``layers.{i}.attn.qkv``, ... for ``VisionTransformer``) or
            ``'timm'`` (``blocks.{i}.attn.qkv``, ... for timm's ``VisionTransformer``).

    Returns:
        ``{name: tensor}`` with ``L'`` layers, every tensor its own contiguous copy on CPU.

    Raises:
        ExportError: bottleneck adapters, window attention or relative positions present.
        ValueError: unknown ``layout``.
    """
    if layout not in EXPORT_LAYOUTS:
        raise ValueError(f'layout={layout!r} is unknown; choose one of {EXPORT_LAYOUTS}')
    swin = _swin_backbone(backbone)
    if swin is not None:
        return _export_swin(swin, layout)
    backbone = _scalenet_backbone(backbone)
    _check_exportable(backbone)
    out: StateDict = {}
    if backbone.cls_token is not None:
        out['cls_token'] = backbone.cls_token
    out['pos_embed'] = backbone.pos_embed
    out.update({f'patch_embed.{k}': v for k, v in backbone.patch_embed.state_dict().items()})
    for index, instance in enumerate(backbone.instances):
        block = backbone.layers[instance.source]
        pre = f'layers.{index}'
        out.update(_norm_state(instance.ln1 if instance.ln1 is not None else block.ln1,
                               f'{pre}.ln1'))
        out.update(_norm_state(instance.ln2 if instance.ln2 is not None else block.ln2,
                               f'{pre}.ln2'))
        qkv = block.attn.qkv
        out[f'{pre}.attn.qkv.weight'] = _merged(qkv, instance, 'qkv')
        if qkv.bias is not None:
            out[f'{pre}.attn.qkv.bias'] = qkv.bias
        proj = block.attn.proj
        weight, bias = _gated(_merged(proj, instance, 'proj'), proj.bias, instance.gate1)
        out[f'{pre}.attn.proj.weight'] = weight
        if bias is not None:
            out[f'{pre}.attn.proj.bias'] = bias
        fc1, fc2 = block.ffn.fc1, block.ffn.fc2
        out[f'{pre}.ffn.layers.0.0.weight'] = _merged(fc1, instance, 'fc1')
        if fc1.bias is not None:
            out[f'{pre}.ffn.layers.0.0.bias'] = fc1.bias
        weight, bias = _gated(_merged(fc2, instance, 'fc2'), fc2.bias, instance.gate2)
        out[f'{pre}.ffn.layers.1.weight'] = weight
        if bias is not None:
            out[f'{pre}.ffn.layers.1.bias'] = bias
    for name in ('ln1', 'ln2'):
        norm = getattr(backbone, name, None)
        if isinstance(norm, nn.Module) and len(norm.state_dict()):
            out.update(_norm_state(norm, name))
    out = {k: v.detach().to('cpu', copy=True).contiguous() for k, v in out.items()}
    if layout == 'timm':
        if 'ln2.weight' in out:
            raise ExportError('the timm layout has no place for the avg-pool norm "ln2" '
                              '(out_type="avg_featmap"); export with layout="mmpretrain"')
        out, leftover = mmpretrain_to_timm(out)
        assert not leftover, leftover
    return out


@torch.no_grad()
def _export_swin(backbone: nn.Module, layout: str) -> Dict[str, torch.Tensor]:
    """:func:`export_plain_state_dict` for a ScaleNetSwin (mmpretrain or timm Swin names)."""
    reasons = export_blockers(backbone)
    if reasons:
        raise ExportError('cannot export this ScaleNetSwin as a plain Swin: ' + '; '.join(reasons)
                          + '. Export works for LoRA adapters (merged), gates and own norms; '
                          'keep the model in the ScaleNet layout (it loads with scalenet_mm '
                          'installed).')
    out: StateDict = {f'patch_embed.{k}': v for k, v in backbone.patch_embed.state_dict().items()}
    if getattr(backbone, 'use_abs_pos_embed', False):
        out['absolute_pos_embed'] = backbone.absolute_pos_embed
    for s, stage in enumerate(backbone.stages):
        for index, instance in enumerate(stage.instances):
            block = stage.blocks[instance.source]
            pre = f'stages.{s}.blocks.{index}'
            out.update(_norm_state(instance.ln1 if instance.ln1 is not None else block.norm1,
                                   f'{pre}.norm1'))
            out.update(_norm_state(instance.ln2 if instance.ln2 is not None else block.norm2,
                                   f'{pre}.norm2'))
            msa = block.attn.w_msa
            out[f'{pre}.attn.w_msa.relative_position_bias_table'] = \
                msa.relative_position_bias_table
            out[f'{pre}.attn.w_msa.relative_position_index'] = msa.relative_position_index
            out[f'{pre}.attn.w_msa.qkv.weight'] = _merged(msa.qkv, instance, 'qkv')
            if msa.qkv.bias is not None:
                out[f'{pre}.attn.w_msa.qkv.bias'] = msa.qkv.bias
            weight, bias = _gated(_merged(msa.proj, instance, 'proj'), msa.proj.bias,
                                  instance.gate1)
            out[f'{pre}.attn.w_msa.proj.weight'] = weight
            out[f'{pre}.attn.w_msa.proj.bias'] = bias
            fc1, fc2 = block.ffn.fc1, block.ffn.fc2
            out[f'{pre}.ffn.layers.0.0.weight'] = _merged(fc1, instance, 'fc1')
            out[f'{pre}.ffn.layers.0.0.bias'] = fc1.bias
            weight, bias = _gated(_merged(fc2, instance, 'fc2'), fc2.bias, instance.gate2)
            out[f'{pre}.ffn.layers.1.weight'] = weight
            out[f'{pre}.ffn.layers.1.bias'] = bias
        if stage.downsample is not None:
            out.update({f'stages.{s}.downsample.{k}': v
                        for k, v in stage.downsample.state_dict().items()})
    for i in backbone.out_indices:
        out.update(_norm_state(getattr(backbone, f'norm{i}'), f'norm{i}'))
    out = {k: v.detach().to('cpu', copy=True).contiguous() for k, v in out.items()}
    if layout == 'timm':
        out, leftover = swin_mmpretrain_to_timm(out)
        if leftover:
            raise ExportError(f'the timm layout has no place for {describe(leftover)}: timm\'s '
                              f'Swin has one final norm (after the last stage); export with '
                              f'layout="mmpretrain" or build the backbone with out_indices=(3,)')
    return out


def _plain_swin_config(backbone: nn.Module) -> Dict[str, Any]:
    arch = dict(embed_dims=int(backbone.embed_dims), depths=[int(d) for d in backbone.depths],
                num_heads=[int(h) for h in backbone.num_heads])
    cfg: Dict[str, Any] = dict(
        type='SwinTransformer', arch=arch, img_size=[int(s) for s in backbone.img_size],
        patch_size=int(backbone.patch_size), in_channels=int(backbone.in_channels),
        window_size=int(backbone.window_size), out_indices=[int(i) for i in backbone.out_indices],
        out_after_downsample=bool(backbone.out_after_downsample),
        use_abs_pos_embed=bool(backbone.use_abs_pos_embed),
        interpolate_mode=backbone.interpolate_mode, pad_small_map=bool(backbone.pad_small_map),
        norm_cfg=None if backbone.norm_cfg is None else dict(backbone.norm_cfg))
    if not backbone.qkv_bias:
        cfg['stage_cfgs'] = dict(block_cfgs=dict(attn_cfgs=dict(qkv_bias=False)))
    return cfg


def plain_backbone_config(backbone: nn.Module) -> Dict[str, Any]:
    """The mmpretrain ``VisionTransformer`` (or, for a ScaleNetSwin, ``SwinTransformer``)
    config that the exported weights load into (plain values only, stored as checkpoint meta)."""
    if _swin_backbone(backbone) is not None:
        return _plain_swin_config(_swin_backbone(backbone))
    backbone = _scalenet_backbone(backbone)
    arch = dict(backbone.arch_settings)
    arch['num_layers'] = backbone.depth
    first = backbone.layers[0]
    norm = first.ln1
    return dict(
        type='VisionTransformer', arch={k: int(v) for k, v in arch.items()},
        img_size=[int(s) for s in backbone.img_size],
        patch_size=int(backbone.patch_embed.projection.kernel_size[0]),
        in_channels=int(backbone.patch_embed.projection.in_channels),
        out_type=backbone.out_type, with_cls_token=bool(backbone.with_cls_token),
        final_norm=bool(backbone.final_norm), qkv_bias=first.attn.qkv.bias is not None,
        norm_cfg=dict(type='LN', eps=float(getattr(norm, 'eps', 1e-6))),
        interpolate_mode=backbone.interpolate_mode)


@torch.no_grad()
def export_plain_classifier(model: nn.Module, layout: str = 'mmpretrain') -> Dict[str, torch.Tensor]:
    """Whole-classifier export: the plain backbone plus the model's other tensors (head).

    ``'mmpretrain'`` gives ``backbone.*`` plus the classifier's own keys unchanged (e.g.
    ``head.layers.head.weight``), for ``ImageClassifier`` with a plain ``VisionTransformer``.
    ``'timm'`` gives a timm ViT classifier (``blocks.*``, ``norm``, ``head``); it needs a
    single-linear ``VisionTransformerClsHead`` and no neck.

    Raises:
        ExportError: as :func:`export_plain_state_dict`, or (timm) a head/neck timm lacks.
    """
    if layout not in EXPORT_LAYOUTS:
        raise ValueError(f'layout={layout!r} is unknown; choose one of {EXPORT_LAYOUTS}')
    if _swin_backbone(model) is not None and _swin_backbone(model) is not model:
        return _export_swin_classifier(model, layout)
    backbone = _scalenet_backbone(model)
    out = {f'backbone.{k}': v
           for k, v in export_plain_state_dict(backbone, 'mmpretrain').items()}
    for name, value in model.state_dict().items():
        if not name.startswith('backbone.'):
            out[name] = value.detach().to('cpu', copy=True).contiguous()
    if layout == 'mmpretrain':
        return out
    converted, leftover = classifier_mmpretrain_to_timm(out)
    if leftover:
        raise ExportError(f'the timm layout has no place for {leftover}: timm\'s ViT has a '
                          f'single linear head and no neck; export with layout="mmpretrain"')
    return converted


def _export_swin_classifier(model: nn.Module, layout: str) -> Dict[str, torch.Tensor]:
    """:func:`export_plain_classifier` for an ``ImageClassifier`` with a ScaleNetSwin backbone.

    The timm layout needs a global-average-pooling neck (no tensors) and a single-linear
    ``LinearClsHead`` (``head.fc``, the same name in timm's Swin).
    """
    others = {name: value.detach().to('cpu', copy=True).contiguous()
              for name, value in model.state_dict().items() if not name.startswith('backbone.')}
    backbone = export_plain_state_dict(model.backbone, layout)
    if layout == 'mmpretrain':
        out = {f'backbone.{k}': v for k, v in backbone.items()}
        out.update(others)
        return out
    leftover = sorted(k for k in others if k not in ('head.fc.weight', 'head.fc.bias'))
    if leftover:
        raise ExportError(f'the timm layout has no place for {describe(leftover)}: timm\'s Swin '
                          f'has a single linear head "head.fc" and no neck; export with '
                          f'layout="mmpretrain"')
    backbone.update(others)
    return backbone
