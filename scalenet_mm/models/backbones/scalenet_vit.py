"""``ScaleNetViT``: a pretrained ViT made deeper by sharing its layers, as an OpenMMLab backbone.

This is the thin OpenMMLab glue around :mod:`scalenet_mm.method`: it builds the patch and
position embeddings as mmpretrain's ``VisionTransformer`` does (same names, same
pos-embed resizing), keeps the L pretrained blocks once under ``layers.{i}`` and the L'
per-use states under ``instances.{i}``, and runs them with the layer map. Everything that is
method logic (adapters, the shared-block forward) lives in :mod:`scalenet_mm.method`.

State-dict layout (so mmpretrain DeiT checkpoints load without conversion)::

    cls_token, pos_embed, patch_embed.projection.{weight,bias}
    layers.{j}.ln1 / attn.qkv / attn.proj / ln2 / ffn.layers.0.0 / ffn.layers.1    (j < L)
    instances.{i}.lora.{qkv,proj,fc1,fc2}.lora_{A,B} | adapter.{attn,ffn}.* |
                  ln1 / ln2 | gate1 / gate2 | rel_pos_{h,w}                      (i < L')
    ln1 (final norm), ln2 (only for out_type='avg_featmap')
"""
import math
from typing import Any, Dict, List, Optional, Sequence, Set, Tuple, Union

import numpy as np
import torch
import torch.nn as nn
from mmcv.cnn.bricks.transformer import PatchEmbed
from mmengine.logging import print_log
from mmengine.model import ModuleList
from mmengine.model.weight_init import trunc_normal_
from mmpretrain.models.backbones.base_backbone import BaseBackbone
from mmpretrain.models.backbones.vision_transformer import VisionTransformer
from mmpretrain.models.utils import build_norm_layer, resize_pos_embed, to_2tuple

from ...method import (AdapterConfig, LayerInstance, SharedBlock, build_layer_map, first_use,
                       inserted_instances, resolve_depth, run_instances, shared_use)
from ...registry import register_model
from .pretrained_init import init_shared_backbone

ARCH_KEYS = ('embed_dims', 'num_layers', 'num_heads', 'feedforward_channels')
DEFAULT_ADAPTER: Dict[str, Any] = dict(type='lora', rank=10, targets=('qkv', 'proj', 'fc1', 'fc2'))


@register_model
class ScaleNetViT(BaseBackbone):
    """A ViT of L pretrained layers run as L' >= L layer instances that share their weights.

    Instance ``i`` runs pretrained block ``layer_map[i]`` with its own adapters, so the model
    is deeper at almost no parameter cost (ScaleNet, arXiv 2510.18431).

    Args:
        arch: the pretrained ViT: an mmpretrain name (``'deit-tiny'``, ``'deit-small'``,
            ``'deit-base'``, ``'base'``, ... with their aliases) or a dict with ``embed_dims``,
            ``num_layers``, ``num_heads``, ``feedforward_channels``.
        depth: the scaled depth L' (an int >= L) or a scale factor (a float >= 1.0).
        layer_map: ``'cyclic'`` (0..L-1, 0..L-1: the paper's map), ``'interleave'``
            (0,0,1,1,...), or an explicit list of L' source-layer indices.
        adapter: per-instance adjustment: ``None`` (plain sharing), a LoRA dict
            ``dict(type='lora', rank=10, alpha=None, dropout=0., targets=('qkv','proj','fc1','fc2'))``
            or a bottleneck dict ``dict(type='bottleneck', width=16, scale=1., positions=('attn','ffn'))``;
            ``apply_to='all'`` (default) or ``'inserted'`` (only instances that are not the
            first use of their layer). Default: LoRA rank 10 on all four linears of every
            instance (DeiT-Tiny 2x: 6.46 M parameters with a 1000-class head, as the paper).
        per_instance_norm: give every instance its own LayerNorms, filled from its source
            layer's pretrained values in :meth:`init_weights`.
        gate_inserted: add zero-initialised per-channel gates to inserted instances, so the
            expanded model computes exactly the pretrained L-layer model at step 0.
        window_size: 0 for global attention everywhere; otherwise window attention of this
            size in every instance except ``global_attn_indexes`` (ViTDet). Needs
            ``with_cls_token=False``.
        global_attn_indexes: instances (over L', negative allowed) that keep global attention.
        use_rel_pos: add zero-initialised decomposed relative position tables to every instance.
        img_size, patch_size, in_channels: input geometry (as mmpretrain's ViT).
        out_indices: instances whose outputs are returned (over L', negative allowed).
        out_type: ``'cls_token'``, ``'featmap'``, ``'avg_featmap'`` or ``'raw'``.
        with_cls_token: prepend a class token.
        final_norm: apply the final LayerNorm after the last instance.
        frozen_stages: freeze the embeddings and the first ``frozen_stages`` instances (and the
            shared tensors first used by them: a shared layer frozen at its first use is frozen
            for all its uses). -1 freezes nothing.
        drop_rate, attn_drop_rate: dropout rates.
        drop_path_rate: stochastic depth, rising linearly over the L' instances.
        qkv_bias: bias in the qkv projection.
        norm_cfg: the LayerNorm config.
        interpolate_mode: position-embedding resize mode for other input sizes.
        with_cp: non-reentrant activation checkpointing of every instance (DDP-safe).
        init_cfg: mmengine init config; ``dict(type='Pretrained', checkpoint=PATH_OR_URL)``
            loads a DeiT / timm / mmpretrain / ScaleNet checkpoint through
            :func:`scalenet_mm.checkpoint.load_pretrained`.
    """
    arch_zoo = VisionTransformer.arch_zoo
    OUT_TYPES = VisionTransformer.OUT_TYPES

    def __init__(self,
                 arch: Union[str, Dict[str, int]] = 'deit-base',
                 depth: Union[int, float] = 2.0,
                 layer_map: Union[str, Sequence[int]] = 'cyclic',
                 adapter: Optional[Dict[str, Any]] = DEFAULT_ADAPTER,
                 per_instance_norm: bool = False,
                 gate_inserted: bool = False,
                 window_size: int = 0,
                 global_attn_indexes: Sequence[int] = (),
                 use_rel_pos: bool = False,
                 img_size: Union[int, Tuple[int, int]] = 224,
                 patch_size: int = 16,
                 in_channels: int = 3,
                 out_indices: Union[int, Sequence[int]] = -1,
                 out_type: str = 'cls_token',
                 with_cls_token: bool = True,
                 final_norm: bool = True,
                 frozen_stages: int = -1,
                 drop_rate: float = 0.,
                 attn_drop_rate: float = 0.,
                 drop_path_rate: float = 0.,
                 qkv_bias: bool = True,
                 norm_cfg: Dict[str, Any] = dict(type='LN', eps=1e-6),
                 interpolate_mode: str = 'bicubic',
                 with_cp: bool = False,
                 init_cfg: Optional[Union[Dict, List[Dict]]] = None) -> None:
        super().__init__(init_cfg)
        self.arch_settings = self.parse_arch(arch)
        self.embed_dims = self.arch_settings['embed_dims']
        self.num_source_layers = self.arch_settings['num_layers']
        self.depth = resolve_depth(depth, self.num_source_layers)
        # mmpretrain's name for the number of layers the forward runs (used by its tools).
        self.num_layers = self.depth
        self.layer_map = build_layer_map(layer_map, self.num_source_layers, self.depth)
        self.adapter_cfg = AdapterConfig.from_spec(adapter)
        self.per_instance_norm = per_instance_norm
        self.gate_inserted = gate_inserted
        self.with_cp = with_cp
        self.img_size = to_2tuple(img_size)
        self.interpolate_mode = interpolate_mode
        self.frozen_stages = frozen_stages

        self.patch_embed = PatchEmbed(
            in_channels=in_channels, input_size=img_size, embed_dims=self.embed_dims,
            conv_type='Conv2d', kernel_size=patch_size, stride=patch_size)
        self.patch_resolution = self.patch_embed.init_out_size
        num_patches = self.patch_resolution[0] * self.patch_resolution[1]

        if out_type not in self.OUT_TYPES:
            raise ValueError(f'out_type={out_type!r} is not supported; choose one of '
                             f'{sorted(self.OUT_TYPES)}')
        self.out_type = out_type
        self.with_cls_token = with_cls_token
        if with_cls_token:
            self.num_extra_tokens = 1
            self.cls_token = nn.Parameter(torch.zeros(1, 1, self.embed_dims))
        elif out_type == 'cls_token':
            raise ValueError('with_cls_token=False cannot be combined with out_type="cls_token"; '
                             'use out_type="featmap" or "avg_featmap", or keep the class token')
        else:
            self.num_extra_tokens = 0
            self.cls_token = None
        self.pos_embed = nn.Parameter(
            torch.zeros(1, num_patches + self.num_extra_tokens, self.embed_dims))
        self.register_load_state_dict_pre_hook(_prepare_pos_embed)
        self.drop_after_pos = nn.Dropout(p=drop_rate)

        self.out_indices = self._parse_indices(out_indices, 'out_indices')
        global_set = set(self._parse_indices(global_attn_indexes, 'global_attn_indexes'))
        if window_size < 0:
            raise ValueError(f'window_size={window_size} must be >= 0 (0 = global attention)')
        if window_size > 0 and with_cls_token:
            raise ValueError(f'window_size={window_size} needs with_cls_token=False: window '
                             f'attention partitions patch tokens only')

        def norm_factory(dims: int) -> nn.Module:
            return build_norm_layer(norm_cfg, dims)

        self.layers = ModuleList([
            SharedBlock(self.embed_dims, self.arch_settings['num_heads'],
                        self.arch_settings['feedforward_channels'], qkv_bias=qkv_bias,
                        norm_factory=norm_factory, drop_rate=drop_rate,
                        attn_drop_rate=attn_drop_rate)
            for _ in range(self.num_source_layers)
        ])
        inserted = inserted_instances(self.layer_map)
        dpr = np.linspace(0, drop_path_rate, self.depth)
        self.instances = ModuleList()
        for index, source in enumerate(self.layer_map):
            adapter_here = self.adapter_cfg
            if adapter_here is not None and adapter_here.apply_to == 'inserted' and not inserted[index]:
                adapter_here = None
            windowed = window_size > 0 and index not in global_set
            if not use_rel_pos:
                rel_pos_hw = (0, 0)
            elif windowed:
                rel_pos_hw = (window_size, window_size)
            else:
                rel_pos_hw = self.patch_resolution
            self.instances.append(
                LayerInstance(
                    source, self.embed_dims, self.arch_settings['num_heads'],
                    self.arch_settings['feedforward_channels'], adapter=adapter_here,
                    own_norm=per_instance_norm, norm_factory=norm_factory,
                    gate=gate_inserted and inserted[index], drop_path_rate=float(dpr[index]),
                    window_size=window_size if windowed else 0, rel_pos_hw=rel_pos_hw))

        self.final_norm = final_norm
        if final_norm:
            self.ln1 = build_norm_layer(norm_cfg, self.embed_dims)
        if out_type == 'avg_featmap':
            self.ln2 = build_norm_layer(norm_cfg, self.embed_dims)
        if frozen_stages > 0:
            self._freeze_stages()

    # ------------------------------------------------------------------ construction helpers
    @classmethod
    def parse_arch(cls, arch: Union[str, Dict[str, int]]) -> Dict[str, int]:
        """The sizes of ``arch`` (a name of :attr:`arch_zoo` or a dict with :data:`ARCH_KEYS`);
        ValueError naming a bad one. Public so tools parse an arch exactly as the backbone."""
        if isinstance(arch, str):
            if arch.lower() not in cls.arch_zoo:
                raise ValueError(f'arch={arch!r} is unknown; use one of '
                                 f'{sorted(cls.arch_zoo)} or a dict with keys {list(ARCH_KEYS)}')
            return dict(cls.arch_zoo[arch.lower()])
        if not isinstance(arch, dict) or not set(ARCH_KEYS) <= set(arch):
            raise ValueError(f'arch={arch!r} is invalid: a custom arch is a dict with keys '
                             f'{list(ARCH_KEYS)}')
        return dict(arch)

    def _parse_indices(self, indices: Union[int, Sequence[int]], name: str) -> List[int]:
        if isinstance(indices, int):
            indices = [indices]
        parsed = []
        for index in indices:
            if not isinstance(index, int) or not -self.depth <= index < self.depth:
                raise ValueError(f'{name} contains {index!r}, outside the {self.depth} layer '
                                 f'instances; allowed: integers in [{-self.depth}, {self.depth - 1}]')
            parsed.append(index % self.depth)
        return parsed

    # ------------------------------------------------------------------ weights
    def init_weights(self, load_pretrained: bool = True) -> None:
        """Initialise from scratch, then load ``init_cfg``'s pretrained checkpoint; then derive
        per-instance state (own LayerNorms) from the source layers where it was not loaded.

        The ``Pretrained`` entry of ``init_cfg`` is loaded by
        :func:`scalenet_mm.checkpoint.load_pretrained` (DeiT / timm / mmpretrain / ScaleNet
        layouts) instead of mmengine's ``PretrainedInit`` (mmpretrain keys only); the other
        entries go through mmengine's :func:`~mmengine.model.initialize`, after the
        from-scratch init. As mmengine's ``BaseModule``, a second call changes nothing, and
        ``is_init`` is set, so a parent's ``init_weights`` skips this module.

        Args:
            load_pretrained: False initialises without loading the checkpoint (used when the
                weights come from elsewhere, e.g. :func:`scalenet_mm.checkpoint.expand_checkpoint`).
        """
        if self.is_init:  # mmengine semantics: a second call only warns and changes nothing
            super().init_weights()
            return
        init_shared_backbone(self, load_pretrained)

    def _init_scratch(self) -> None:
        """From-scratch init (timm-style): truncated-normal linears and embeddings."""
        for module in self.layers.modules():
            if isinstance(module, nn.Linear):
                trunc_normal_(module.weight, std=.02)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
        trunc_normal_(self.pos_embed, std=.02)
        if self.cls_token is not None:
            trunc_normal_(self.cls_token, std=.02)

    @torch.no_grad()
    def sync_instances_from_sources(self, skip_keys: Set[str] = frozenset()) -> None:
        """Fill each instance's derived state (own LayerNorms) from its source layer's weights,
        except where ``skip_keys`` shows that a checkpoint already provided it."""
        for index, instance in enumerate(self.instances):
            if instance.ln1 is None:
                continue
            if f'instances.{index}.ln1.weight' in skip_keys:
                continue
            instance.copy_from_source(self.layers[instance.source])

    # ------------------------------------------------------------------ training behaviour
    def _freeze_stages(self) -> None:
        """Freeze embeddings, the first ``frozen_stages`` instances and their first-used layers."""
        self.pos_embed.requires_grad = False
        if self.cls_token is not None:
            self.cls_token.requires_grad = False
        self.drop_after_pos.eval()
        self.patch_embed.eval()
        for param in self.patch_embed.parameters():
            param.requires_grad = False
        frozen = min(self.frozen_stages, self.depth)
        origin = first_use(self.layer_map)
        for source, first in enumerate(origin):
            if first < frozen:
                self.layers[source].eval()
                for param in self.layers[source].parameters():
                    param.requires_grad = False
        for index in range(frozen):
            self.instances[index].eval()
            for param in self.instances[index].parameters():
                param.requires_grad = False
        if frozen == self.depth:
            for name in ('ln1', 'ln2'):
                norm = getattr(self, name, None)
                if norm is not None:
                    norm.eval()
                    for param in norm.parameters():
                        param.requires_grad = False

    def train(self, mode: bool = True) -> 'ScaleNetViT':
        super().train(mode)
        if mode and self.frozen_stages > 0:
            self._freeze_stages()
        return self

    def get_layer_depth(self, param_name: str, prefix: str = '',
                        shared_depth: str = 'first') -> Tuple[int, int]:
        """Layer-wise lr-decay depth of a parameter (mmpretrain's interface).

        Embeddings are depth 0; instance ``i``'s own parameters depth ``i + 1``; a shared
        tensor takes the depth of its first use (its original layer; ``shared_depth='first'``)
        or of its last use (``'last'``: under the cyclic map layer ``d``'s last use is as far
        below the top as ``d`` is in the L-layer model, so the shared tensors keep the lrs
        the base model's fine-tuning gives them); everything after the backbone is
        ``depth + 1``. Returns ``(layer_depth, num_layers)`` with ``num_layers = L' + 2``.
        """
        num_layers = self.depth + 2
        if not param_name.startswith(prefix):
            return num_layers - 1, num_layers
        name = param_name[len(prefix):]
        if name in ('cls_token', 'pos_embed') or name.startswith('patch_embed'):
            return 0, num_layers
        if name.startswith('layers.'):
            return shared_use(self.layer_map, shared_depth)[int(name.split('.')[1])] + 1, num_layers
        if name.startswith('instances.'):
            return int(name.split('.')[1]) + 1, num_layers
        return num_layers - 1, num_layers

    # ------------------------------------------------------------------ forward
    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        B = x.shape[0]
        x, patch_resolution = self.patch_embed(x)
        if self.cls_token is not None:
            x = torch.cat((self.cls_token.expand(B, -1, -1), x), dim=1)
        x = x + resize_pos_embed(self.pos_embed, self.patch_resolution, patch_resolution,
                                 mode=self.interpolate_mode,
                                 num_extra_tokens=self.num_extra_tokens)
        x = self.drop_after_pos(x)
        outs: List[torch.Tensor] = []
        last = self.depth - 1
        wanted = set(self.out_indices)

        def collect(index: int, tokens: torch.Tensor) -> None:
            if index in wanted:
                if index == last and self.final_norm:
                    tokens = self.ln1(tokens)
                outs.append(self._format_output(tokens, patch_resolution))

        run_instances(x, self.layers, self.instances, patch_resolution,
                      num_extra_tokens=self.num_extra_tokens,
                      with_cp=self.with_cp and self.training, on_output=collect)
        return tuple(outs)

    def _format_output(self, x: torch.Tensor, hw: Tuple[int, int]) -> torch.Tensor:
        """One output in the form ``out_type`` names (the same forms as mmpretrain's ViT)."""
        if self.out_type == 'raw':
            return x
        if self.out_type == 'cls_token':
            return x[:, 0]
        patch_tokens = x[:, self.num_extra_tokens:]
        if self.out_type == 'featmap':  # (B, N, C) -> (B, C, H, W)
            return patch_tokens.reshape(x.shape[0], *hw, -1).permute(0, 3, 1, 2)
        return self.ln2(patch_tokens.mean(dim=1))  # 'avg_featmap'

    # ------------------------------------------------------------------ reporting
    def count_parameters(self) -> Dict[str, int]:
        """Unique parameter counts: ``shared`` (the L pretrained blocks), ``per_instance``
        (adapters, own norms, gates, relative positions of the L' instances), ``other``
        (embeddings, final norm) and their ``total``. Each tensor is counted once."""
        seen: Set[int] = set()

        def count(module: nn.Module) -> int:
            total = 0
            for param in module.parameters():
                if id(param) not in seen:
                    seen.add(id(param))
                    total += param.numel()
            return total

        shared = count(self.layers)
        per_instance = count(self.instances)
        other = count(self)
        return dict(total=shared + per_instance + other, shared=shared,
                    per_instance=per_instance, other=other)

    def extra_repr(self) -> str:
        counts = self.count_parameters()
        adapter = 'none' if self.adapter_cfg is None else self.adapter_cfg.type
        return (f'pretrained_layers={self.num_source_layers}, depth={self.depth}, '
                f'layer_map={self.layer_map}, adapter={adapter}, '
                f'params(total={counts["total"]:,}, shared={counts["shared"]:,}, '
                f'per_instance={counts["per_instance"]:,}, other={counts["other"]:,})')


def _prepare_pos_embed(module: ScaleNetViT, state_dict: Dict[str, torch.Tensor], prefix: str,
                       *args: Any) -> None:
    """``load_state_dict`` pre-hook: fit a checkpoint's position embedding to ``module``'s grid.

    The same adaptation as mmpretrain's ViT, through its public ``resize_pos_embed``: a
    class-token entry the model does not have is dropped (also when the grids differ, e.g. a
    DeiT checkpoint at 224 px, 1 + 14*14, into a detection backbone without class token),
    then the patch part is resized (``interpolate_mode``) to the model's grid.
    """
    name = prefix + 'pos_embed'
    if name not in state_dict:
        return
    pos_embed = state_dict[name]
    length, wanted = pos_embed.shape[1], module.pos_embed.shape[1]
    if not module.with_cls_token and length != wanted and (
            length == wanted + 1 or (math.isqrt(length)**2 != length
                                     and math.isqrt(length - 1)**2 == length - 1)):
        pos_embed = pos_embed[:, 1:]
        length = pos_embed.shape[1]
    if pos_embed.shape != module.pos_embed.shape:
        patches = length - module.num_extra_tokens
        side = math.isqrt(max(patches, 0))
        if patches <= 0 or side * side != patches:
            raise ValueError(
                f'{name} of shape {tuple(state_dict[name].shape)} cannot be resized to '
                f'{tuple(module.pos_embed.shape)}: after {module.num_extra_tokens} extra token(s) '
                f'its {patches} entries are not a square grid; load a ViT checkpoint whose '
                f'position embedding matches this arch (with_cls_token={module.with_cls_token})')
        print_log(f'Resize the pos_embed shape from {tuple(state_dict[name].shape)} to '
                  f'{tuple(module.pos_embed.shape)}.', logger='current')
        pos_embed = resize_pos_embed(pos_embed, (side, side), module.patch_resolution,
                                     module.interpolate_mode, module.num_extra_tokens)
    state_dict[name] = pos_embed
