"""``ScaleNetSwin``: a pretrained Swin Transformer made deeper by sharing its blocks per stage.

The OpenMMLab glue around :mod:`scalenet_mm.method.swin`: the patch embedding and the
patch-merging layers are mmcv's own ``PatchEmbed`` / ``PatchMerging`` (single-use, built
exactly as mmpretrain's ``SwinTransformer`` builds them), the output norms are mmpretrain's
``norm{i}``, and every stage keeps its ``d_s`` pretrained blocks once under
``stages.{s}.blocks.{j}`` and its ``D_s`` per-use states under ``stages.{s}.instances.{i}``.
The arguments are mmpretrain ``SwinTransformer``'s plus the ScaleNet ones (``depth``,
``layer_map``, ``adapter``, ``per_instance_norm``, ``gate_inserted``).

State-dict layout (mmpretrain's Swin names, so mmpretrain / mmdet checkpoints load unchanged)::

    patch_embed.projection / patch_embed.norm, [absolute_pos_embed]
    stages.{s}.blocks.{j}.norm1 / attn.w_msa.{qkv,proj,relative_position_bias_table,
                          relative_position_index} / norm2 / ffn.layers.0.0 / ffn.layers.1
    stages.{s}.instances.{i}.lora.* | adapter.* | ln1 / ln2 | gate1 / gate2
    stages.{s}.downsample.norm / downsample.reduction          (s < last)
    norm{i}                                                    (i in out_indices)

Shift policy: an instance is shifted when its position in the stage is odd, and the layer map
must pair it with a block of the same parity (see :mod:`scalenet_mm.method.swin`).
"""
from copy import deepcopy
from typing import Any, Dict, List, Optional, Sequence, Set, Tuple, Union

import numpy as np
import torch
import torch.nn as nn
from mmcv.cnn.bricks.transformer import PatchEmbed, PatchMerging
from mmengine.logging import print_log
from mmengine.model import BaseModule, ModuleList
from mmengine.model.weight_init import trunc_normal_
from mmengine.utils.dl_utils.parrots_wrapper import _BatchNorm
from mmpretrain.models.backbones.base_backbone import BaseBackbone
from mmpretrain.models.backbones.swin_transformer import SwinTransformer
from mmpretrain.models.utils import build_norm_layer, resize_pos_embed, to_2tuple
from timm.layers import resize_rel_pos_bias_table

from ...method import (AdapterConfig, SharedSwinBlock, SwinLayerInstance, build_stage_maps,
                       inserted_instances, resolve_stage_depths, run_swin_instances,
                       shared_use)
from ...registry import register_model
from .pretrained_init import init_shared_backbone

ARCH_KEYS = ('embed_dims', 'depths', 'num_heads')
DEFAULT_ADAPTER: Dict[str, Any] = dict(type='lora', rank=10, targets=('qkv', 'proj', 'fc1', 'fc2'))
#: ``stage_cfgs`` keys this backbone reads (mmpretrain's others configure blocks ours replace).
STAGE_CFG_KEYS = ('downsample_cfg', )


class ScaleNetSwinStage(BaseModule):
    """One stage: ``d_s`` shared blocks, ``D_s`` instances, an optional patch merging."""

    def __init__(self, blocks: ModuleList, instances: ModuleList,
                 downsample: Optional[nn.Module]) -> None:
        super().__init__()
        self.blocks = blocks
        self.instances = instances
        self.downsample = downsample
        self.embed_dims = blocks[0].embed_dims

    @property
    def layer_map(self) -> List[int]:
        """Source block of every instance of the stage."""
        return [inst.source for inst in self.instances]

    @property
    def out_channels(self) -> int:
        return self.downsample.out_channels if self.downsample is not None else self.embed_dims

    def forward(self, x: torch.Tensor, hw: Tuple[int, int], with_cp: bool = False,
                do_downsample: bool = True) -> Tuple[torch.Tensor, Tuple[int, int]]:
        x = run_swin_instances(x, self.blocks, self.instances, hw, with_cp=with_cp)
        if self.downsample is not None and do_downsample:
            x, hw = self.downsample(x, hw)
        return x, hw


@register_model
class ScaleNetSwin(BaseBackbone):
    """A Swin Transformer whose stages run ``D_s >= d_s`` instances of their pretrained blocks.

    Args:
        arch: the pretrained Swin: ``'tiny'``, ``'small'``, ``'base'``, ``'large'`` (or
            ``'t'``/``'s'``/``'b'``/``'l'``), or a dict with ``embed_dims``, ``depths``,
            ``num_heads`` (mmpretrain's ``SwinTransformer.arch_zoo``).
        depth: a scale factor (float >= 1.0) applied to every stage, which must give a whole
            number of instances per stage, or a list of per-stage instance counts
            (e.g. ``[4, 4, 12, 4]`` for Swin-T 2x).
        layer_map: ``'cyclic'`` (``b % d_s`` within each stage, default) or one explicit list
            of source-block indices per stage. Maps that pair an instance with a block of the
            other window shift are refused (shift policy in :mod:`scalenet_mm.method.swin`).
        adapter: per-instance adjustment, as :class:`~scalenet_mm.models.ScaleNetViT`:
            ``None``, a LoRA dict (default rank 10 on qkv/proj/fc1/fc2) or a bottleneck dict.
        per_instance_norm: own ``norm1``/``norm2`` per instance, filled from the source block.
        gate_inserted: zero-initialised per-channel gates on inserted instances (not the
            first use of their block), so the model starts as the pretrained Swin.
        img_size, patch_size, in_channels, window_size, drop_rate, drop_path_rate, out_indices,
        out_after_downsample, use_abs_pos_embed, interpolate_mode, frozen_stages, norm_eval,
        pad_small_map, norm_cfg, patch_cfg, init_cfg: as mmpretrain's ``SwinTransformer``
            (drop path rises linearly over all instances of all stages).
        stage_cfgs: only ``downsample_cfg`` is read (a dict, or one dict per stage).
        qkv_bias: bias in the qkv projections.
        with_cp: non-reentrant activation checkpointing of every instance (DDP-safe).
    """
    arch_zoo = SwinTransformer.arch_zoo
    num_extra_tokens = 0

    def __init__(self,
                 arch: Union[str, Dict[str, Any]] = 'tiny',
                 depth: Union[float, Sequence[int]] = 2.0,
                 layer_map: Union[str, Sequence[Sequence[int]]] = 'cyclic',
                 adapter: Optional[Dict[str, Any]] = DEFAULT_ADAPTER,
                 per_instance_norm: bool = False,
                 gate_inserted: bool = False,
                 img_size: Union[int, Tuple[int, int]] = 224,
                 patch_size: int = 4,
                 in_channels: int = 3,
                 window_size: int = 7,
                 drop_rate: float = 0.,
                 drop_path_rate: float = 0.1,
                 out_indices: Sequence[int] = (3, ),
                 out_after_downsample: bool = False,
                 use_abs_pos_embed: bool = False,
                 interpolate_mode: str = 'bicubic',
                 with_cp: bool = False,
                 frozen_stages: int = -1,
                 norm_eval: bool = False,
                 pad_small_map: bool = False,
                 norm_cfg: Optional[Dict[str, Any]] = dict(type='LN'),
                 stage_cfgs: Union[Dict[str, Any], Sequence[Dict[str, Any]]] = dict(),
                 patch_cfg: Dict[str, Any] = dict(),
                 qkv_bias: bool = True,
                 init_cfg: Optional[Union[Dict, List[Dict]]] = None) -> None:
        super().__init__(init_cfg)
        self.arch_settings = self.parse_arch(arch)
        self.embed_dims = int(self.arch_settings['embed_dims'])
        self.source_depths: List[int] = [int(d) for d in self.arch_settings['depths']]
        self.num_heads: List[int] = [int(h) for h in self.arch_settings['num_heads']]
        # Swin blocks need parity-preserving maps; validated before anything is built.
        self.depths: List[int] = resolve_stage_depths(depth, self.source_depths)
        self.layer_maps: List[List[int]] = build_stage_maps(layer_map, self.source_depths,
                                                            self.depths)
        self.adapter_cfg = AdapterConfig.from_spec(adapter)
        self.per_instance_norm = per_instance_norm
        self.gate_inserted = gate_inserted
        # mmpretrain's Swin calls its stage count num_layers (used by its tools)
        self.num_layers = len(self.depths)
        self.out_indices = self._parse_out_indices(out_indices)
        self.out_after_downsample = out_after_downsample
        self.use_abs_pos_embed = use_abs_pos_embed
        self.interpolate_mode = interpolate_mode
        self.frozen_stages = frozen_stages
        self.norm_eval = norm_eval
        self.with_cp = with_cp
        self.window_size = int(window_size)
        self.pad_small_map = pad_small_map
        self.img_size = to_2tuple(img_size)
        self.patch_size = patch_size
        self.in_channels = in_channels
        self.norm_cfg = norm_cfg
        self.qkv_bias = qkv_bias
        if self.window_size < 1:
            raise ValueError(f'window_size={window_size} must be a positive integer')

        _patch_cfg = dict(in_channels=in_channels, input_size=img_size,
                          embed_dims=self.embed_dims, conv_type='Conv2d',
                          kernel_size=patch_size, stride=patch_size, norm_cfg=dict(type='LN'))
        _patch_cfg.update(patch_cfg)
        self.patch_embed = PatchEmbed(**_patch_cfg)
        self.patch_resolution = self.patch_embed.init_out_size
        if use_abs_pos_embed:
            num_patches = self.patch_resolution[0] * self.patch_resolution[1]
            self.absolute_pos_embed = nn.Parameter(torch.zeros(1, num_patches, self.embed_dims))
        self.register_load_state_dict_pre_hook(_prepare_swin_state_dict)
        self.drop_after_pos = nn.Dropout(p=drop_rate)

        total = sum(self.depths)
        # numpy, not torch.linspace(...).item(): the model also builds on the meta device
        dpr = [float(x) for x in np.linspace(0, drop_path_rate, total)]
        self.stages = ModuleList()
        widths = [self.embed_dims]
        for s, (blocks_s, heads, stage_map) in enumerate(
                zip(self.source_depths, self.num_heads, self.layer_maps)):
            dims = widths[-1]
            ffn_channels = int(dims * 4)
            stage_cfg = self._stage_cfg(stage_cfgs, s)

            blocks = ModuleList([
                SharedSwinBlock(dims, heads, self.window_size, ffn_channels, qkv_bias=qkv_bias,
                                norm_factory=_layer_norm, pad_small_map=pad_small_map)
                for _ in range(blocks_s)
            ])
            inserted = inserted_instances(stage_map)
            instances = ModuleList()
            for i, source in enumerate(stage_map):
                adapter_here = self.adapter_cfg
                if (adapter_here is not None and adapter_here.apply_to == 'inserted'
                        and not inserted[i]):
                    adapter_here = None
                instances.append(SwinLayerInstance(
                    source, dims, heads, ffn_channels, shift=i % 2 == 1, adapter=adapter_here,
                    own_norm=per_instance_norm, norm_factory=_layer_norm,
                    gate=gate_inserted and inserted[i], drop_path_rate=dpr[i]))
            dpr = dpr[len(stage_map):]
            downsample = None
            if s < len(self.depths) - 1:
                downsample = PatchMerging(**{'in_channels': dims, 'out_channels': 2 * dims,
                                             'norm_cfg': dict(type='LN'),
                                             **stage_cfg.get('downsample_cfg', {})})
            stage = ScaleNetSwinStage(blocks, instances, downsample)
            self.stages.append(stage)
            widths.append(stage.out_channels)

        self.num_features = widths[1:] if out_after_downsample else widths[:-1]
        for i in self.out_indices:
            norm = (build_norm_layer(norm_cfg, self.num_features[i])
                    if norm_cfg is not None else nn.Identity())
            self.add_module(f'norm{i}', norm)
        if frozen_stages >= 0:
            self._freeze_stages()

    # ------------------------------------------------------------------ construction helpers
    @classmethod
    def parse_arch(cls, arch: Union[str, Dict[str, Any]]) -> Dict[str, Any]:
        """The sizes of ``arch`` (a name of :attr:`arch_zoo` or a dict with :data:`ARCH_KEYS`)."""
        if isinstance(arch, str):
            if arch.lower() not in cls.arch_zoo:
                raise ValueError(f'arch={arch!r} is unknown; use one of {sorted(cls.arch_zoo)} '
                                 f'or a dict with keys {list(ARCH_KEYS)}')
            return deepcopy(dict(cls.arch_zoo[arch.lower()]))
        if not isinstance(arch, dict) or set(arch) != set(ARCH_KEYS):
            raise ValueError(f'arch={arch!r} is invalid: a custom Swin arch is a dict with '
                             f'exactly the keys {list(ARCH_KEYS)}')
        if len(arch['depths']) != len(arch['num_heads']):
            raise ValueError(f'arch depths={arch["depths"]} and num_heads={arch["num_heads"]} '
                             f'must have one entry per stage')
        return deepcopy(dict(arch))

    def _parse_out_indices(self, out_indices: Union[int, Sequence[int]]) -> List[int]:
        if isinstance(out_indices, int):
            out_indices = [out_indices]
        stages = len(self.depths)
        parsed = []
        for index in out_indices:
            if (isinstance(index, bool) or not isinstance(index, int)
                    or not -stages <= index < stages):
                raise ValueError(f'out_indices contains {index!r}; it indexes the {stages} '
                                 f'stages: integers in [{-stages}, {stages - 1}]')
            parsed.append(index % stages)
        return parsed

    @staticmethod
    def _stage_cfg(stage_cfgs: Union[Dict[str, Any], Sequence[Dict[str, Any]]],
                   stage: int) -> Dict[str, Any]:
        cfg = stage_cfgs[stage] if isinstance(stage_cfgs, Sequence) else stage_cfgs
        cfg = dict(cfg or {})
        unknown = sorted(set(cfg) - set(STAGE_CFG_KEYS))
        if unknown:
            raise ValueError(f'stage_cfgs keys {unknown} are not supported by ScaleNetSwin '
                             f'(its blocks are shared ScaleNet blocks); allowed: '
                             f'{list(STAGE_CFG_KEYS)}')
        return cfg

    @property
    def layer_map(self) -> List[List[int]]:
        """The per-stage layer maps (alias of :attr:`layer_maps`)."""
        return self.layer_maps

    # ------------------------------------------------------------------ weights
    def init_weights(self, load_pretrained: bool = True) -> None:
        """From-scratch init, then ``init_cfg``'s other entries, then its ``Pretrained``
        checkpoint through :func:`scalenet_mm.checkpoint.load_pretrained` (mmpretrain, mmdet,
        timm, Microsoft and ScaleNet layouts), then own norms from their source blocks.

        Args:
            load_pretrained: False initialises without loading the checkpoint.
        """
        if self.is_init:
            super().init_weights()
            return
        init_shared_backbone(self, load_pretrained)

    def _init_scratch(self) -> None:
        """From-scratch init: truncated-normal linears (timm / Swin), zero biases, truncated-
        normal relative-position tables (as mmpretrain's ``WindowMSA``) and position embedding."""
        for stage in self.stages:
            for module in stage.blocks.modules():
                if isinstance(module, nn.Linear):
                    trunc_normal_(module.weight, std=.02)
                    if module.bias is not None:
                        nn.init.zeros_(module.bias)
            for block in stage.blocks:
                trunc_normal_(block.attn.w_msa.relative_position_bias_table, std=.02)
        if self.use_abs_pos_embed:
            trunc_normal_(self.absolute_pos_embed, std=.02)

    @torch.no_grad()
    def sync_instances_from_sources(self, skip_keys: Set[str] = frozenset()) -> None:
        """Fill instances' own norms from their source blocks unless a checkpoint gave them."""
        for s, stage in enumerate(self.stages):
            for i, instance in enumerate(stage.instances):
                if instance.ln1 is None or f'stages.{s}.instances.{i}.ln1.weight' in skip_keys:
                    continue
                instance.copy_from_source(stage.blocks[instance.source])

    # ------------------------------------------------------------------ training behaviour
    def _freeze_stages(self) -> None:
        """As mmpretrain: ``frozen_stages >= 0`` freezes the patch embedding, stages
        ``0..frozen_stages`` (blocks, instances, patch merging) and their output norms."""
        if self.frozen_stages >= 0:
            self.patch_embed.eval()
            for param in self.patch_embed.parameters():
                param.requires_grad = False
            if self.use_abs_pos_embed:
                self.absolute_pos_embed.requires_grad = False
        for i in range(0, min(self.frozen_stages + 1, len(self.stages))):
            stage = self.stages[i]
            stage.eval()
            for param in stage.parameters():
                param.requires_grad = False
        for i in self.out_indices:
            if i <= self.frozen_stages:
                for param in getattr(self, f'norm{i}').parameters():
                    param.requires_grad = False

    def train(self, mode: bool = True) -> 'ScaleNetSwin':
        super().train(mode)
        self._freeze_stages()
        if mode and self.norm_eval:
            for m in self.modules():
                if isinstance(m, _BatchNorm):
                    m.eval()
        return self

    def get_layer_depth(self, param_name: str, prefix: str = '',
                        shared_depth: str = 'first') -> Tuple[int, int]:
        """Layer-wise lr-decay depth of a parameter (mmpretrain's Swin rule over instances).

        Instances are counted across stages: instance ``i`` of stage ``s`` is depth
        ``sum(D[:s]) + i + 1``; a shared block takes the depth of its first use (or, with
        ``shared_depth='last'``, of its last use in the stage); a stage's
        patch merging the depth of the stage's last instance (``sum(D[:s+1])``); the patch
        embedding (and absolute position embedding) 0; the output norms and everything
        after the backbone ``num_layers - 1``, with ``num_layers = sum(D) + 2``. For
        ``depth=1.0`` this is exactly mmpretrain's ``SwinTransformer.get_layer_depth``.
        """
        num_layers = sum(self.depths) + 2
        if not param_name.startswith(prefix):
            return num_layers - 1, num_layers
        name = param_name[len(prefix):]
        if name.startswith('patch_embed') or name == 'absolute_pos_embed':
            return 0, num_layers
        if name.startswith('stages.'):
            parts = name.split('.')
            stage = int(parts[1])
            offset = sum(self.depths[:stage])
            if parts[2] == 'instances':
                return offset + int(parts[3]) + 1, num_layers
            if parts[2] == 'blocks':
                use = shared_use(self.layer_maps[stage], shared_depth)
                return offset + use[int(parts[3])] + 1, num_layers
            return sum(self.depths[:stage + 1]), num_layers  # downsample
        return num_layers - 1, num_layers

    # ------------------------------------------------------------------ forward
    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        x, hw = self.patch_embed(x)
        if self.use_abs_pos_embed:
            x = x + resize_pos_embed(self.absolute_pos_embed, self.patch_resolution, hw,
                                     self.interpolate_mode, self.num_extra_tokens)
        x = self.drop_after_pos(x)
        outs = []
        with_cp = self.with_cp and self.training
        for i, stage in enumerate(self.stages):
            x, hw = stage(x, hw, with_cp=with_cp, do_downsample=self.out_after_downsample)
            if i in self.out_indices:
                out = getattr(self, f'norm{i}')(x)
                outs.append(out.view(-1, *hw, self.num_features[i]).permute(0, 3, 1,
                                                                             2).contiguous())
            if stage.downsample is not None and not self.out_after_downsample:
                x, hw = stage.downsample(x, hw)
        return tuple(outs)

    # ------------------------------------------------------------------ reporting
    def count_parameters(self) -> Dict[str, int]:
        """Unique parameter counts: ``shared`` (pretrained blocks), ``per_instance``
        (adapters, own norms, gates), ``other`` (embedding, patch merging, norms), ``total``."""
        seen: Set[int] = set()

        def count(params: Any) -> int:
            total = 0
            for param in params:
                if id(param) not in seen:
                    seen.add(id(param))
                    total += param.numel()
            return total

        shared = count(p for st in self.stages for p in st.blocks.parameters())
        per_instance = count(p for st in self.stages for p in st.instances.parameters())
        other = count(self.parameters())
        return dict(total=shared + per_instance + other, shared=shared,
                    per_instance=per_instance, other=other)

    def extra_repr(self) -> str:
        counts = self.count_parameters()
        adapter = 'none' if self.adapter_cfg is None else self.adapter_cfg.type
        return (f'pretrained_depths={self.source_depths}, depths={self.depths}, '
                f'adapter={adapter}, params(total={counts["total"]:,}, '
                f'shared={counts["shared"]:,}, per_instance={counts["per_instance"]:,})')


def _layer_norm(dims: int) -> nn.Module:
    """The LayerNorm of mmpretrain's Swin blocks (``dict(type='LN')``, eps 1e-5)."""
    return build_norm_layer(dict(type='LN'), dims)


def _prepare_swin_state_dict(module: ScaleNetSwin, state_dict: Dict[str, torch.Tensor],
                             prefix: str, *args: Any) -> None:
    """``load_state_dict`` pre-hook, as mmpretrain's Swin does: resize relative-position bias tables
    and the absolute position embedding to this model's window / patch grid, drop derived
    buffers of the checkpoint that no longer fit (index of another window, ``attn_mask``)."""
    own = module.state_dict()
    for key in list(state_dict):
        if not key.startswith(prefix):
            continue
        local = key[len(prefix):]
        if local.endswith('attn_mask'):
            del state_dict[key]
        elif local.endswith('relative_position_bias_table') and local in own:
            table, target = state_dict[key], own[local]
            if table.shape != target.shape and table.shape[1] == target.shape[1]:
                state_dict[key] = resize_bias_table(table, target.shape[0])
                print_log(f'Resize {local} from {tuple(table.shape)} to '
                          f'{tuple(target.shape)}.', logger='current')
        elif local.endswith('relative_position_index') and local in own:
            if state_dict[key].shape != own[local].shape:
                state_dict[key] = own[local].clone()
        elif local == 'absolute_pos_embed' and local in own:
            pos, target = state_dict[key], own[local]
            if pos.shape != target.shape and pos.shape[-1] == target.shape[-1]:
                side = int(round(pos.shape[1]**0.5))
                state_dict[key] = resize_pos_embed(pos, (side, side), module.patch_resolution,
                                                   module.interpolate_mode, 0)


def resize_bias_table(table: torch.Tensor, length: int) -> torch.Tensor:
    """Resize a ``((2w-1)^2, heads)`` relative-position bias table to ``length`` rows (e.g.
    window 7 -> 12) with timm's ``resize_rel_pos_bias_table``, what timm's Swin loader runs
    (mmpretrain's own resize calls scipy's ``interp2d``, removed in SciPy 1.14)."""
    src, dst = int(round(table.shape[0]**0.5)), int(round(length**0.5))
    if src * src != table.shape[0] or dst * dst != length or dst % 2 == 0:
        raise ValueError(f'a relative-position bias table of {table.shape[0]} rows cannot be '
                         f'resized to {length} rows: both must be (2w-1)^2 for a window w')
    window = (dst + 1) // 2
    return resize_rel_pos_bias_table(table, (window, window),
                                     (length, table.shape[1])).to(table.dtype)
