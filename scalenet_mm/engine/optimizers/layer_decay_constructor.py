"""Layer-wise learning-rate decay for ViT backbones whose layers may be shared (ScaleNet).

Fine-tuning a pretrained ViT works best when early layers move less than late ones
(BEiT / MAE / ViTDet): a tensor at depth ``d`` of ``N`` gets ``lr * rate ** (N - 1 - d)``.
The depth of every backbone tensor comes from the backbone's ``get_layer_depth`` (the
interface of mmpretrain's ``LearningRateDecayOptimWrapperConstructor``: ``ScaleNetViT``,
``ScaleNetSwin`` (instances counted across stages, as mmpretrain's Swin counts blocks),
mmpretrain's ``VisionTransformer`` / ``SwinTransformer``); for ScaleNet a
shared tensor is registered once and takes the depth of its first use (its original layer)
or, with ``paramwise_cfg.shared_depth='last'``, of its last use, so it is added to the
optimizer once, at one learning rate. Everything outside the backbone
(neck, heads) is at the top (scale 1).

Unlike mmpretrain's constructor (one parameter group per tensor), tensors are grouped by
(depth, decay / no decay): a few dozen groups instead of hundreds, so fused / foreach
optimizer steps stay efficient. Each group lists its tensors' names under ``param_names``
(torch's own key for named parameter groups).
"""
import inspect
from collections import OrderedDict
from typing import Callable, Dict, List, Optional, Sequence, Set, Tuple

import torch.nn as nn
from mmengine.logging import MMLogger
from mmengine.model import is_model_wrapper
from mmengine.optim import DefaultOptimWrapperConstructor, OptimWrapper
from mmengine.registry import OPTIM_WRAPPERS, OPTIMIZERS
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.modules.instancenorm import _InstanceNorm

from ...method import SHARED_DEPTH_RULES
from ...registry import register_optim_constructor

#: Tensor names (the last component of a parameter's name) that never get weight decay:
#: position embeddings, class / mask tokens, ScaleNet gates, relative-position tables (ViTDet's
#: decomposed ones and Swin's bias tables, as mmpretrain's / mmdet's Swin recipes).
NO_DECAY_NAMES: Tuple[str, ...] = ('pos_embed', 'cls_token', 'mask_token', 'gate1', 'gate2',
                                   'rel_pos_h', 'rel_pos_w', 'absolute_pos_embed',
                                   'relative_position_bias_table')
NORM_TYPES = (_BatchNorm, _InstanceNorm, nn.GroupNorm, nn.LayerNorm)
PARAMWISE_KEYS = ('layer_decay_rate', 'no_decay_names', 'backbone_name', 'shared_depth')

DepthFn = Callable[[str], Tuple[int, int]]


@register_optim_constructor
class LayerDecayOptimWrapperConstructor(DefaultOptimWrapperConstructor):
    """Optimizer-wrapper constructor with layer-wise lr decay and no decay on flat tensors.

    Rules, for every trainable tensor (each added exactly once, even when several modules
    hold it):

    - learning rate ``base_lr * layer_decay_rate ** (num_layers - 1 - depth)``, where
      ``(depth, num_layers) = model.<backbone>.get_layer_depth(name, '<backbone>.')`` for
      backbone tensors and ``depth = num_layers - 1`` (scale 1) for all others;
    - weight decay ``base_wd``, except 0 for the parameters of norm layers, biases, 1-D
      tensors, and tensors named in :data:`NO_DECAY_NAMES` or ``no_decay_names``.

    A model without a backbone attribute may itself provide ``get_layer_depth(name)``.

    Config::

        optim_wrapper = dict(
            type='AmpOptimWrapper',
            constructor='LayerDecayOptimWrapperConstructor',
            optimizer=dict(type='AdamW', lr=1e-4, betas=(0.9, 0.999), weight_decay=0.1),
            paramwise_cfg=dict(layer_decay_rate=0.7))

    ``paramwise_cfg`` keys:
        layer_decay_rate (float): per-layer lr factor, in (0, 1]; default 1.0 (no decay).
        no_decay_names (Sequence[str]): more tensor names (last name component) without
            weight decay.
        backbone_name (str): the attribute holding the backbone; default ``'backbone'``.
        shared_depth (str): which use of a shared ScaleNet tensor gives its depth: ``'first'``
            (default; its original layer) or ``'last'`` (under the cyclic map the shared
            tensors then get the lrs the L-layer base model's fine-tuning gives them at the
            same rate; only the embeddings and the per-instance tensors of early instances
            move less). The backbone's ``get_layer_depth`` must take a ``shared_depth``
            argument for ``'last'`` (ScaleNetViT, ScaleNetSwin do).
    """

    def __init__(self, optim_wrapper_cfg: dict, paramwise_cfg: Optional[dict] = None) -> None:
        paramwise_cfg = dict(paramwise_cfg or {})
        unknown = sorted(set(paramwise_cfg) - set(PARAMWISE_KEYS))
        if unknown:
            raise KeyError(f'unknown paramwise_cfg keys {unknown} for '
                           f'LayerDecayOptimWrapperConstructor; allowed: {list(PARAMWISE_KEYS)}')
        self.layer_decay_rate = float(paramwise_cfg.get('layer_decay_rate', 1.0))
        if not 0.0 < self.layer_decay_rate <= 1.0:
            raise ValueError(f'layer_decay_rate={self.layer_decay_rate} must be in (0, 1]')
        self.no_decay_names = tuple(NO_DECAY_NAMES) + tuple(
            paramwise_cfg.get('no_decay_names', ()))
        self.backbone_name = paramwise_cfg.get('backbone_name', 'backbone')
        self.shared_depth = paramwise_cfg.get('shared_depth', 'first')
        if self.shared_depth not in SHARED_DEPTH_RULES:
            raise ValueError(f'paramwise_cfg.shared_depth={self.shared_depth!r} is not a rule; '
                             f'use one of {SHARED_DEPTH_RULES}')
        # The parent validates only its own keys; ours are handled here.
        super().__init__(optim_wrapper_cfg, paramwise_cfg=None)
        self.paramwise_cfg = paramwise_cfg

    # ------------------------------------------------------------------ building
    def __call__(self, model: nn.Module) -> OptimWrapper:
        """Build the optimizer over :meth:`add_params`' groups and wrap it (as the parent
        does, except that the groups are made even when ``paramwise_cfg`` is empty)."""
        if is_model_wrapper(model):
            model = model.module
        params: List[dict] = []
        self.add_params(params, model)
        optimizer_cfg = self.optimizer_cfg.copy()
        optimizer_cfg['params'] = params
        optimizer = OPTIMIZERS.build(optimizer_cfg)
        wrapper_cfg = self.optim_wrapper_cfg.copy()
        wrapper_cfg.setdefault('type', 'OptimWrapper')
        return OPTIM_WRAPPERS.build(wrapper_cfg, default_args=dict(optimizer=optimizer))

    def add_params(self, params: List[dict], module: nn.Module, prefix: str = '',
                   **kwargs) -> None:
        """Append ``module``'s trainable tensors to ``params`` as (depth, decay) groups."""
        depth_fn, num_layers = self._depth_function(module)
        groups: 'OrderedDict[Tuple[int, bool], dict]' = OrderedDict()
        seen: Set[int] = {id(p) for group in params for p in group['params']}
        for name, param, no_decay in self._named_trainable(module, prefix):
            if id(param) in seen:
                continue
            seen.add(id(param))
            depth, layers_here = depth_fn(name)
            if layers_here != num_layers or not 0 <= depth < num_layers:
                raise ValueError(f'get_layer_depth({name!r}) returned ({depth}, {layers_here}); '
                                 f'expected 0 <= depth < num_layers = {num_layers}')
            key = (depth, no_decay)
            if key not in groups:
                scale = self.layer_decay_rate**(num_layers - 1 - depth)
                groups[key] = dict(params=[], param_names=[], lr=self.base_lr * scale,
                                   lr_scale=scale, layer_id=depth)
                # No-decay tensors get 0 even when the optimizer's own default would decay.
                if no_decay:
                    groups[key]['weight_decay'] = 0.0
                elif self.base_wd is not None:
                    groups[key]['weight_decay'] = self.base_wd
            groups[key]['params'].append(param)
            groups[key]['param_names'].append(name)
        ordered = [groups[key] for key in sorted(groups)]
        params.extend(ordered)
        self._log(ordered, num_layers)

    # ------------------------------------------------------------------ helpers
    def _depth_function(self, model: nn.Module) -> Tuple[DepthFn, int]:
        """Return ``name -> (depth, num_layers)`` for every parameter of ``model``."""
        backbone = getattr(model, self.backbone_name, None)
        if backbone is not None and callable(getattr(backbone, 'get_layer_depth', None)):
            backbone_prefix = f'{self.backbone_name}.'
            rule: Dict[str, str] = {}
            if self.shared_depth != 'first':
                if 'shared_depth' not in inspect.signature(backbone.get_layer_depth).parameters:
                    raise ValueError(
                        f'paramwise_cfg.shared_depth={self.shared_depth!r} needs a backbone '
                        f'with shared tensors whose get_layer_depth takes shared_depth '
                        f'(ScaleNetViT, ScaleNetSwin); {type(backbone).__name__} has none: '
                        f'remove shared_depth from paramwise_cfg')
                rule = dict(shared_depth=self.shared_depth)

            def depth_fn(name: str) -> Tuple[int, int]:
                if name.startswith(backbone_prefix):
                    return backbone.get_layer_depth(name, backbone_prefix, **rule)
                return num_layers - 1, num_layers

            probe = next((f'{backbone_prefix}{n}' for n, _ in backbone.named_parameters()),
                         None)
            if probe is None:
                raise ValueError(f'{type(backbone).__name__} has no parameters')
            num_layers = backbone.get_layer_depth(probe, backbone_prefix)[1]
            return depth_fn, num_layers
        if backbone is None and callable(getattr(model, 'get_layer_depth', None)):
            probe = next((n for n, _ in model.named_parameters()), '')
            return model.get_layer_depth, model.get_layer_depth(probe)[1]
        owner = type(backbone if backbone is not None else model).__name__
        raise NotImplementedError(
            f'LayerDecayOptimWrapperConstructor needs the backbone to tell each tensor\'s depth, '
            f'but {owner} has no get_layer_depth(param_name, prefix) method; use a backbone '
            f'that has one (ScaleNetViT, ScaleNetSwin, mmpretrain VisionTransformer / '
            f'SwinTransformer) or the default '
            f'constructor')

    def _named_trainable(self, module: nn.Module,
                         prefix: str) -> List[Tuple[str, nn.Parameter, bool]]:
        """``(name, tensor, no_weight_decay)`` for every trainable tensor, first name wins."""
        found = []
        for module_name, sub in module.named_modules(remove_duplicate=False):
            is_norm = isinstance(sub, NORM_TYPES)
            for local, param in sub.named_parameters(recurse=False):
                if not param.requires_grad:
                    continue
                name = f'{prefix}{module_name}.{local}' if module_name else f'{prefix}{local}'
                no_decay = (is_norm or local == 'bias' or param.ndim <= 1
                            or local in self.no_decay_names)
                found.append((name, param, no_decay))
        return found

    def _log(self, groups: Sequence[Dict], num_layers: int) -> None:
        logger = MMLogger.get_current_instance()
        logger.info(f'layer-wise lr decay: rate {self.layer_decay_rate}, {num_layers} depths, '
                    f'shared tensors at their {self.shared_depth} use, '
                    f'{sum(len(g["params"]) for g in groups)} tensors in {len(groups)} groups')
        for group in groups:
            logger.debug(f'depth {group["layer_id"]} lr_scale {group["lr_scale"]:.4g} '
                         f'weight_decay {group.get("weight_decay")}: '
                         + ', '.join(group['param_names']))
