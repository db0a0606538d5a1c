"""Parameters and FLOPs of a config's model or of a backbone, with sharing accounted for.

What :mod:`tools/analysis/get_flops.py` reports: unique parameters (a shared tensor once),
parameter registrations (what naive counting would say), FLOPs per image with every use of a
shared block counted, and for ScaleNet backbones the split shared / per-instance and the FLOPs
of every layer instance.

For a config, the counted forward is the model's tensor path: a classifier's
``model(x, mode='tensor')`` (backbone, neck, head), a detector's ``extract_feat`` (backbone and
neck: the box and mask heads depend on the data samples and are not counted).
"""
from typing import Any, Dict, Optional, Sequence, Tuple

import torch
import torch.nn as nn

from .flops import count_flops, lora_merge_flops, scalenet_instance_flops
from .params import count_parameter_uses, count_unique_parameters, scalenet_parameter_split


class TensorForward(nn.Module):
    """``model``'s tensor-in, tensor-out path as a module (what the FLOP counter traces).

    Args:
        model: a backbone (called directly), an mmpretrain classifier (``mode='tensor'``) or an
            mmdet detector (``extract_feat``).
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        if hasattr(model, 'extract_feat') and hasattr(model, 'rpn_head') or \
                hasattr(model, 'extract_feat') and hasattr(model, 'bbox_head'):
            self.kind = 'extract_feat'
        elif hasattr(model, 'extract_feat') and hasattr(model, 'head'):
            self.kind = 'tensor'
        else:
            self.kind = 'call'

    def forward(self, x: torch.Tensor) -> Any:
        if self.kind == 'extract_feat':
            return self.model.extract_feat(x)
        if self.kind == 'tensor':
            return self.model(x, mode='tensor')
        return self.model(x)


def find_scalenet_backbone(model: nn.Module) -> Optional[nn.Module]:
    """The first submodule that is a ScaleNet backbone (has ``count_parameters`` and instances)."""
    for module in model.modules():
        if hasattr(module, 'count_parameters') and hasattr(module, 'instances'):
            return module
    return None


def analyze(model: nn.Module, input_shape: Tuple[int, int, int] = (3, 224, 224),
            per_instance: bool = True) -> Dict[str, Any]:
    """Parameters and FLOPs (batch of one image of ``input_shape``) of ``model``.

    Returns ``params``, ``params_trainable``, ``param_registrations``, ``flops``,
    ``flops_by_operator``; for a model containing a ScaleNet backbone also ``params_split``,
    ``lora_merge_flops`` and (``per_instance``) ``flops_per_instance``.
    """
    device = next((p.device for p in model.parameters()), torch.device('cpu'))
    image = torch.randn(1, *input_shape, device=device)
    wrapped = TensorForward(model)
    counts = count_unique_parameters(model)
    flops = count_flops(wrapped, image)
    result: Dict[str, Any] = dict(
        params=counts['total'], params_trainable=counts['trainable'],
        param_registrations=count_parameter_uses(model), flops=flops['total'],
        flops_by_operator=flops['by_operator'], forward=wrapped.kind,
        input_shape=list(input_shape))
    backbone = find_scalenet_backbone(model)
    if backbone is not None:
        shared, instance, other = scalenet_parameter_split(backbone)
        result['params_split'] = dict(shared=shared, per_instance=instance, other=other)
        result['lora_merge_flops'] = lora_merge_flops(backbone)
        if per_instance:
            calls = scalenet_instance_flops(wrapped, image) if backbone is not model else \
                scalenet_instance_flops(backbone, image)
            result['flops_per_instance'] = [dict(call=c, flops=f) for c, f in calls]
    return result


def build_from_config(path: str, cfg_options: Optional[Dict[str, Any]] = None) -> nn.Module:
    """Build ``cfg.model`` of an mmpretrain or mmdet config (its ``default_scope``), without
    loading pretrained weights (``init_cfg`` of the backbone is dropped)."""
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    import scalenet_mm  # noqa: F401  (registers the project's modules)
    cfg = Config.fromfile(path)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    scope = cfg.get('default_scope', 'mmpretrain')
    init_default_scope(scope)
    if scope == 'mmdet':
        from mmdet.registry import MODELS
    else:
        from mmpretrain.registry import MODELS
    model_cfg = cfg.model
    if 'backbone' in model_cfg and isinstance(model_cfg.backbone, dict):
        model_cfg.backbone.pop('init_cfg', None)
    return MODELS.build(model_cfg)


def build_backbone(spec: Dict[str, Any]) -> nn.Module:
    """Build a backbone from a registry dict such as ``dict(type='ScaleNetViT', arch=...)``."""
    import scalenet_mm  # noqa: F401
    from mmpretrain.registry import MODELS
    return MODELS.build(dict(spec))


def format_report(result: Dict[str, Any], show_instances: bool = True) -> str:
    """Human-readable summary of :func:`analyze`'s result."""
    lines = [f"input {tuple(result['input_shape'])}, counted forward: {result['forward']}",
             f"params (unique): {result['params'] / 1e6:.3f} M "
             f"(trainable {result['params_trainable'] / 1e6:.3f} M; "
             f"registrations {result['param_registrations'] / 1e6:.3f} M)",
             f"FLOPs per image (every use counted): {result['flops'] / 1e9:.3f} G"]
    if 'params_split' in result:
        split = result['params_split']
        lines.append(f"ScaleNet split: shared {split['shared'] / 1e6:.3f} M, per-instance "
                     f"{split['per_instance'] / 1e6:.3f} M, other {split['other'] / 1e6:.3f} M")
        lines.append(f"LoRA merge (once per training step, cached in eval): "
                     f"{result['lora_merge_flops'] / 1e9:.3f} GFLOPs")
    if show_instances and result.get('flops_per_instance'):
        lines.append('FLOPs per layer instance:')
        for row in result['flops_per_instance']:
            lines.append(f"  {row['call']:<28} {row['flops'] / 1e9:.4f} G")
    ops = ', '.join(f'{op} {value / 1e9:.3f} G'
                    for op, value in sorted(result['flops_by_operator'].items()))
    lines.append(f'by operator: {ops}')
    return '\n'.join(lines)


def parse_shape(values: Sequence[int]) -> Tuple[int, int, int]:
    """``[S]`` -> ``(3, S, S)``; ``[H, W]`` -> ``(3, H, W)``; ``[C, H, W]`` as is."""
    if len(values) == 1:
        return 3, values[0], values[0]
    if len(values) == 2:
        return 3, values[0], values[1]
    if len(values) == 3:
        return tuple(values)  # type: ignore[return-value]
    raise ValueError(f'shape {list(values)} must be S, H W or C H W')
