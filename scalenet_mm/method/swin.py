"""The ScaleNet method on Swin Transformer stages: shared Swin blocks run by per-instance state.

A Swin model is a sequence of stages; stage ``s`` holds ``d_s`` pretrained blocks and ends
with a patch-merging layer. ScaleNet deepens every stage on its own: stage ``s`` runs
``D_s >= d_s`` layer instances, instance ``i`` running pretrained block ``layer_map_s[i]`` of
the *same* stage (widths and head counts differ between stages, so blocks cannot be shared
across them). The patch embedding, the patch-merging layers and the output norms stay
single-use.

Why the Swin block is our own module and not mmpretrain's ``SwinBlock`` / ``ShiftWindowMSA``
or timm's ``SwinTransformerBlock``: those fix the window shift as a module attribute at
construction and call their linears directly, so one set of tensors cannot be run with an
instance's LoRA deltas, gates, adapters, drop-path rate and shift passed in explicitly (the
design every ScaleNet block follows, see :mod:`.blocks`). The block here holds the tensors
under mmpretrain's names (``norm1``, ``attn.w_msa.{qkv,proj,relative_position_bias_table}``,
``norm2``, ``ffn.layers.0.0``, ``ffn.layers.1``), so mmpretrain / mmdet Swin checkpoints load
unchanged, and computes exactly mmpretrain's ``ShiftWindowMSA`` (pad, roll, the same -100
attention mask, ``pad_small_map``). The pure helpers are timm's: ``window_partition``,
``window_reverse`` and ``get_relative_position_index`` (checked equal to mmpretrain's index
in the tests); the attention itself runs through ``F.scaled_dot_product_attention`` with the
relative-position bias and shift mask as its additive mask.

**Shift policy.** Swin alternates regular and shifted windows by block position: block ``j``
of a stage is shifted when ``j`` is odd. Here an instance's shift is set by its *own*
position in the stage (instance ``i`` is shifted when ``i`` is odd), exactly as in a plain Swin
stage of ``D_s`` blocks, and the layer map must give every position a source block of the
same parity (``layer_map_s[i] % 2 == i % 2``). Then the two possible rules, "own position"
and "source block", agree for every accepted map, which gives:

* function preservation: with zero-initialised adapters an instance computes exactly its
  pretrained block (which was trained with that shift), so a ``depth=2.0`` model equals a
  plain Swin whose stage holds ``2 * d_s`` copied blocks;
* the regular/shifted alternation that connects neighbouring windows is kept everywhere;
* export to a stock mmpretrain / timm ``SwinTransformer`` (whose stages hard-code the
  alternation) is always possible.

The default cyclic map ``b % d_s`` satisfies this whenever ``d_s`` is even (every official
Swin arch). A map that pairs a position with a block of the other parity (``'interleave'``
``0,0,1,1,...``, a cyclic map over an odd ``d_s``) would run a block with a shift it was never
trained with; it is refused by :func:`check_shift_pattern` with the positions named.
"""
from typing import Callable, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.utils.checkpoint
from timm.models.swin_transformer import (get_relative_position_index, window_partition,
                                          window_reverse)

from .adapters import AdapterConfig
from .blocks import FFN, LayerInstance, NormFactory, adapted_linear, instance_residual
from .layer_map import build_layer_map, resolve_depth

StageDepthSpec = Union[float, Sequence[int]]
StageMapSpec = Union[str, Sequence[Sequence[int]]]

#: The additive mask value of mmpretrain's / timm's / Microsoft's shifted-window attention.
SHIFT_MASK_VALUE = -100.0


# ---------------------------------------------------------------------- depth and layer maps
def resolve_stage_depths(depth: StageDepthSpec, source_depths: Sequence[int]) -> List[int]:
    """Return ``D_s``, the number of layer instances of every stage.

    Args:
        depth: a scale factor (float >= 1.0) applied to every stage, which must give a whole
            number of instances in each; or a list with one instance count (int >= d_s) per
            stage.
        source_depths: ``d_s``, the pretrained block counts per stage.

    Raises:
        TypeError: an int (ambiguous for a multi-stage model) or another type.
        ValueError: a factor that is not whole in some stage, a list of the wrong length, a
            count below the stage's pretrained depth.
    """
    stages = len(source_depths)
    if isinstance(depth, bool) or isinstance(depth, int):
        raise TypeError(f'depth={depth!r} is ambiguous for a Swin model of {stages} stages; pass '
                        f'a scale factor as a float (e.g. depth=2.0) or a list of instance counts '
                        f'per stage (e.g. depth={[2 * d for d in source_depths]})')
    if isinstance(depth, float):
        out = []
        for stage, blocks in enumerate(source_depths):
            scaled = depth * blocks
            if abs(scaled - round(scaled)) > 1e-6:
                raise ValueError(
                    f'depth={depth} gives {scaled:g} layer instances in stage {stage} '
                    f'({blocks} pretrained blocks); the factor must give a whole number of '
                    f'instances in every stage (pretrained depths {list(source_depths)}). Use a '
                    f'factor that does, or a list of per-stage counts')
            try:
                out.append(resolve_depth(depth, blocks))
            except ValueError as err:
                raise ValueError(f'stage {stage}: {err}') from None
        return out
    if not isinstance(depth, Sequence) or isinstance(depth, str):
        raise TypeError(f'depth must be a float scale factor or a list of per-stage instance '
                        f'counts, got {depth!r}')
    counts = list(depth)
    if len(counts) != stages:
        raise ValueError(f'depth={counts} has {len(counts)} entries but the model has {stages} '
                         f'stages (pretrained depths {list(source_depths)}); give one instance '
                         f'count per stage')
    out = []
    for stage, (count, blocks) in enumerate(zip(counts, source_depths)):
        if isinstance(count, bool) or not isinstance(count, int):
            raise ValueError(f'depth[{stage}]={count!r} must be a whole number of layer '
                             f'instances (an int >= {blocks})')
        try:
            out.append(resolve_depth(count, blocks))
        except ValueError as err:
            raise ValueError(f'stage {stage}: {err}') from None
    return out


def check_shift_pattern(layer_map: Sequence[int], stage: int = 0) -> None:
    """Refuse a stage map that runs a pretrained block with the other window shift.

    Instance ``i`` is shifted when ``i`` is odd (its position, as in a plain Swin stage); its
    source block ``layer_map[i]`` was trained shifted when it is odd. They must agree.

    Raises:
        ValueError: naming the offending positions and the maps that work.
    """
    bad = [(i, src) for i, src in enumerate(layer_map) if i % 2 != src % 2]
    if bad:
        shown = ', '.join(f'instance {i} -> block {src}' for i, src in bad[:6])
        more = f' and {len(bad) - 6} more' if len(bad) > 6 else ''
        raise ValueError(
            f'stage {stage}: layer map {list(layer_map)} breaks the Swin shift pattern: {shown}'
            f'{more}. An instance at an even position uses regular windows and one at an odd '
            f'position shifted windows (as in a plain Swin stage), so it must run a block of '
            f'the same parity, which was trained with that shift; otherwise the pretrained '
            f'block no longer computes its function. Use layer_map="cyclic" with an even number '
            f'of blocks per stage, or an explicit map with layer_map[i] % 2 == i % 2')


def build_stage_maps(layer_map: StageMapSpec, source_depths: Sequence[int],
                     stage_depths: Sequence[int]) -> List[List[int]]:
    """Per-stage source-block indices, validated (ranges, every block used, shift pattern).

    Args:
        layer_map: ``'cyclic'`` (``b % d_s`` in every stage) or another name of
            :func:`~.layer_map.build_layer_map` applied to every stage, or one explicit list
            of ``D_s`` indices in ``[0, d_s)`` per stage.
        source_depths: ``d_s``. stage_depths: ``D_s``.

    Raises:
        ValueError: a wrong number of stage maps, a bad index, an unused block, or a map that
            breaks the shift pattern (:func:`check_shift_pattern`).
    """
    if isinstance(layer_map, str):
        per_stage: List[Union[str, Sequence[int]]] = [layer_map] * len(source_depths)
    else:
        per_stage = list(layer_map)
        if len(per_stage) != len(source_depths) or any(
                isinstance(m, (int, str)) for m in per_stage):
            raise ValueError(f'layer_map={layer_map!r} must be a map name or a list of '
                             f'{len(source_depths)} lists (one per stage) of source-block '
                             f'indices')
    maps = []
    for stage, (spec, blocks, count) in enumerate(zip(per_stage, source_depths, stage_depths)):
        try:
            stage_map = build_layer_map(spec, blocks, count)
        except ValueError as err:
            raise ValueError(f'stage {stage}: {err}') from None
        check_shift_pattern(stage_map, stage)
        maps.append(stage_map)
    return maps


# ---------------------------------------------------------------------- shifted-window helpers
def shifted_window_mask(padded_hw: Tuple[int, int], window_size: int, shift_size: int,
                        device: Optional[torch.device] = None) -> Optional[torch.Tensor]:
    """The ``(nW, ws*ws, ws*ws)`` additive mask of shifted-window attention (None unshifted).

    Tokens that the cyclic roll brought together from different image regions do not attend
    to each other (mask -100, as mmpretrain, timm and the original release).
    """
    if shift_size <= 0:
        return None
    img_mask = torch.zeros(1, padded_hw[0], padded_hw[1], 1, device=device)
    slices = (slice(0, -window_size), slice(-window_size, -shift_size),
              slice(-shift_size, None))
    region = 0
    for h in slices:
        for w in slices:
            img_mask[:, h, w, :] = region
            region += 1
    windows = window_partition(img_mask, (window_size, window_size))
    windows = windows.view(-1, window_size * window_size)
    diff = windows.unsqueeze(1) - windows.unsqueeze(2)
    return diff.masked_fill(diff != 0, SHIFT_MASK_VALUE).masked_fill(diff == 0, 0.0)


class WindowMSAParams(nn.Module):
    """Tensors of window attention, named as mmpretrain's ``WindowMSA``."""

    def __init__(self, embed_dims: int, num_heads: int, window_size: int,
                 qkv_bias: bool = True) -> None:
        super().__init__()
        if embed_dims % num_heads:
            raise ValueError(f'embed_dims={embed_dims} is not divisible by num_heads={num_heads}')
        self.num_heads = num_heads
        self.window_size = window_size
        self.relative_position_bias_table = nn.Parameter(
            torch.zeros((2 * window_size - 1)**2, num_heads))
        # persistent, as in mmpretrain, so its checkpoints load with strict=True
        self.register_buffer('relative_position_index',
                             get_relative_position_index(window_size, window_size))
        self.qkv = nn.Linear(embed_dims, embed_dims * 3, bias=qkv_bias)
        self.proj = nn.Linear(embed_dims, embed_dims)

    def position_bias(self) -> torch.Tensor:
        """``(heads, ws*ws, ws*ws)`` relative-position bias gathered from the table."""
        area = self.window_size**2
        bias = self.relative_position_bias_table[self.relative_position_index.view(-1)]
        return bias.view(area, area, -1).permute(2, 0, 1)


class ShiftWindowMSAParams(nn.Module):
    """Holder with mmpretrain's ``ShiftWindowMSA`` layout (``attn.w_msa.*``), no shift of its
    own (the shift belongs to the instance)."""

    def __init__(self, embed_dims: int, num_heads: int, window_size: int,
                 qkv_bias: bool = True) -> None:
        super().__init__()
        self.w_msa = WindowMSAParams(embed_dims, num_heads, window_size, qkv_bias)


class SwinLayerInstance(LayerInstance):
    """One use of a shared Swin block: the ViT instance state plus its window shift.

    Args:
        shift: run shifted windows (``window_size // 2``); set by the instance's position.
        Other arguments: as :class:`~.blocks.LayerInstance` (window attention and decomposed
        relative positions of the ViT instance are not used: Swin blocks have their own).
    """

    def __init__(self, source: int, embed_dims: int, num_heads: int, feedforward_channels: int,
                 shift: bool, adapter: Optional[AdapterConfig] = None, own_norm: bool = False,
                 norm_factory: Optional[NormFactory] = None, gate: bool = False,
                 drop_path_rate: float = 0.0) -> None:
        super().__init__(source, embed_dims, num_heads, feedforward_channels, adapter=adapter,
                         own_norm=own_norm, norm_factory=norm_factory, gate=gate,
                         drop_path_rate=drop_path_rate)
        self.shift = bool(shift)

    @torch.no_grad()
    def copy_from_source(self, block: 'SharedSwinBlock') -> None:  # type: ignore[override]
        """Fill own LayerNorms (if any) from the source block's ``norm1`` / ``norm2``."""
        if self.ln1 is not None:
            self.ln1.load_state_dict(block.norm1.state_dict())
            self.ln2.load_state_dict(block.norm2.state_dict())

    def extra_repr(self) -> str:
        return f'source={self.source}, shift={self.shift}, drop_path={self.drop_path_rate:g}'


class SharedSwinBlock(nn.Module):
    """One pretrained Swin block whose tensors are shared by several instances of its stage.

    Args:
        embed_dims: token width of the stage.
        num_heads: attention heads of the stage.
        window_size: the attention window.
        feedforward_channels: MLP hidden width (``4 * embed_dims`` in Swin).
        qkv_bias: bias in the qkv projection.
        norm_factory: builds ``norm1`` / ``norm2`` (default ``nn.LayerNorm`` eps 1e-5, as
            mmpretrain's Swin blocks).
        pad_small_map: as mmpretrain: pad a feature map smaller than the window (detection)
            instead of refusing it, and keep shifting when the map equals the window.
    """

    def __init__(self, embed_dims: int, num_heads: int, window_size: int,
                 feedforward_channels: int, qkv_bias: bool = True,
                 norm_factory: Optional[NormFactory] = None,
                 pad_small_map: bool = False) -> None:
        super().__init__()
        factory = norm_factory or nn.LayerNorm
        self.embed_dims = embed_dims
        self.window_size = window_size
        self.pad_small_map = pad_small_map
        self.norm1 = factory(embed_dims)
        self.attn = ShiftWindowMSAParams(embed_dims, num_heads, window_size, qkv_bias)
        self.norm2 = factory(embed_dims)
        self.ffn = FFN(embed_dims, feedforward_channels)

    def _window_attention(self, windows: torch.Tensor, mask: Optional[torch.Tensor],
                          instance: LayerInstance) -> torch.Tensor:
        """Attention within windows ``(B*nW, N, C)``; ``mask`` ``(nW, N, N)`` or None."""
        msa = self.attn.w_msa
        Bw, N, C = windows.shape
        heads = msa.num_heads
        qkv = adapted_linear(windows, msa.qkv, instance, 'qkv')
        q, k, v = qkv.reshape(Bw, N, 3, heads, C // heads).permute(2, 0, 3, 1, 4).unbind(0)
        bias = msa.position_bias().to(q.dtype).unsqueeze(0)  # (1, heads, N, N)
        if mask is not None:
            nW = mask.shape[0]
            bias = bias + mask.to(q.dtype).unsqueeze(1)  # (nW, heads, N, N)
            if torch.is_grad_enabled():
                # Training: q, k, v as (B, nW, heads, N, d), the bias broadcast over images.
                q, k, v = (t.reshape(Bw // nW, nW, heads, N, C // heads) for t in (q, k, v))
            else:
                # Inference: one bias per window of every image, so q, k, v stay 4-D; with 5-D
                # inputs PyTorch's CPU attention leaves its fused kernel for the math path
                # (about 1.5x the time of this call). Not in training: the full-size bias and
                # its gradient made a Swin-T 2x step about 5 % slower on CPU.
                bias = bias.unsqueeze(0).expand(Bw // nW, -1, -1, -1, -1).reshape(
                    Bw, heads, N, N)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias)
        out = out.reshape(Bw, heads, N, C // heads).transpose(1, 2).reshape(Bw, N, C)
        return adapted_linear(out, msa.proj, instance, 'proj')

    def _shifted_window_attention(self, h: torch.Tensor, hw: Tuple[int, int],
                                  instance: LayerInstance) -> torch.Tensor:
        """mmpretrain's ``ShiftWindowMSA`` (without its drop path) on ``h`` (B, H*W, C)."""
        B, L, C = h.shape
        H, W = hw
        if L != H * W:
            raise ValueError(f'{L} tokens do not form the feature map {H}x{W}')
        ws = self.window_size
        shift = ws // 2 if getattr(instance, 'shift', False) else 0
        if min(H, W) == ws:
            shift = shift if self.pad_small_map else 0
        elif min(H, W) < ws and not self.pad_small_map:
            raise ValueError(f'the feature map {H}x{W} is smaller than the window size {ws}; '
                             f'build the backbone with pad_small_map=True (detection), or use '
                             f'a smaller window_size or larger inputs')
        grid = h.view(B, H, W, C)
        pad_r, pad_b = (ws - W % ws) % ws, (ws - H % ws) % ws
        grid = F.pad(grid, (0, 0, 0, pad_r, 0, pad_b))
        Hp, Wp = grid.shape[1], grid.shape[2]
        if shift > 0:
            grid = torch.roll(grid, shifts=(-shift, -shift), dims=(1, 2))
        mask = shifted_window_mask((Hp, Wp), ws, shift, device=h.device)
        windows = window_partition(grid, (ws, ws)).view(-1, ws * ws, C)
        out = self._window_attention(windows, mask, instance)
        grid = window_reverse(out.view(-1, ws, ws, C), (ws, ws), Hp, Wp)
        if shift > 0:
            grid = torch.roll(grid, shifts=(shift, shift), dims=(1, 2))
        if pad_r or pad_b:
            grid = grid[:, :H, :W, :].contiguous()
        return grid.view(B, H * W, C)

    def forward(self, x: torch.Tensor, instance: LayerInstance,
                hw: Tuple[int, int]) -> torch.Tensor:
        """Run this block as ``instance`` on tokens ``x`` (B, H*W, C) of the map ``hw``."""
        norm1 = instance.ln1 if instance.ln1 is not None else self.norm1
        norm2 = instance.ln2 if instance.ln2 is not None else self.norm2
        h = norm1(x)
        a = self._shifted_window_attention(h, hw, instance)
        x = instance_residual(x, a, h, instance, 'attn', instance.gate1, self.training)

        h = norm2(x)
        f = adapted_linear(F.gelu(adapted_linear(h, self.ffn.fc1, instance, 'fc1')),
                           self.ffn.fc2, instance, 'fc2')
        return instance_residual(x, f, h, instance, 'ffn', instance.gate2, self.training)


def run_swin_instances(x: torch.Tensor, blocks: Sequence[SharedSwinBlock],
                       instances: Sequence[LayerInstance], hw: Tuple[int, int],
                       with_cp: bool = False,
                       on_output: Optional[Callable[[int, torch.Tensor], None]] = None
                       ) -> torch.Tensor:
    """Run a stage's instances in order (instance ``i`` uses ``blocks[instances[i].source]``).

    With ``with_cp`` each instance is recomputed in backward by *non-reentrant*
    checkpointing (reentrant checkpointing of a tensor used by several instances makes DDP
    fail with "marked as ready twice").
    """
    for index, instance in enumerate(instances):
        block = blocks[instance.source]
        if with_cp and x.requires_grad:
            x = torch.utils.checkpoint.checkpoint(block, x, instance, hw, use_reentrant=False)
        else:
            x = block(x, instance, hw)
        if on_output is not None:
            on_output(index, x)
    return x
