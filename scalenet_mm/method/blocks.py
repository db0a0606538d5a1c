"""The shared ViT block and the per-instance state that specialises each use of it.

A :class:`SharedBlock` holds one pretrained layer's tensors, registered under the names of
mmpretrain's ``TransformerEncoderLayer`` (``ln1``, ``attn.qkv``, ``attn.proj``, ``ln2``,
``ffn.layers.0.0``, ``ffn.layers.1``) so that mmpretrain DeiT checkpoints load unchanged.
A :class:`LayerInstance` holds what belongs to one *use* of a block: LoRA deltas or bottleneck
adapters, optional own LayerNorms, an optional zero-initialised gate, its drop-path rate, its
attention window and relative-position tables.

The instance is passed into the block's forward explicitly (``block(x, instance, hw)``): no
mutable "current instance" state, so activation checkpointing, tracing and export see a pure
function of their inputs.

Cost: a LoRA delta runs either as one matmul with the effective weight ``W + s * B @ A``
(building it costs ``d_out * r * d_in``, independent of the batch) or as a separate low-rank
branch (cheaper with few tokens); :func:`adapted_linear` picks per call. In eval mode under
``torch.no_grad()`` the merged weights are cached per instance and recomputed whenever any
tensor they come from changes (tracked by tensor version counters).
"""
import copy
from typing import Callable, Dict, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.utils.checkpoint
from timm.layers import drop_path  # stochastic depth (per-sample residual drop), timm's

from .adapters import AdapterConfig, Bottleneck, LoRA
from .attention import decomposed_rel_pos_bias, merge_windows, partition_windows

NormFactory = Callable[[int], nn.Module]


class Attention(nn.Module):
    """Parameter holder for multi-head self-attention (names as mmpretrain's MultiheadAttention)."""

    def __init__(self, embed_dims: int, num_heads: int, qkv_bias: bool = True) -> None:
        super().__init__()
        if embed_dims % num_heads:
            raise ValueError(f'embed_dims={embed_dims} is not divisible by num_heads={num_heads}')
        self.num_heads = num_heads
        self.qkv = nn.Linear(embed_dims, embed_dims * 3, bias=qkv_bias)
        self.proj = nn.Linear(embed_dims, embed_dims)


class FFN(nn.Module):
    """Parameter holder for the MLP, laid out as mmcv's FFN (``layers.0.0`` = fc1, ``layers.1`` = fc2)."""

    def __init__(self, embed_dims: int, feedforward_channels: int) -> None:
        super().__init__()
        self.layers = nn.Sequential(
            nn.Sequential(nn.Linear(embed_dims, feedforward_channels), nn.GELU(), nn.Identity()),
            nn.Linear(feedforward_channels, embed_dims), nn.Identity())

    @property
    def fc1(self) -> nn.Linear:
        return self.layers[0][0]

    @property
    def fc2(self) -> nn.Linear:
        return self.layers[1]


class LayerInstance(nn.Module):
    """Everything that belongs to one use of a shared block.

    Args:
        source: index of the shared block this instance runs.
        embed_dims, num_heads, feedforward_channels: the block's shape (for adapter sizes).
        adapter: the validated adapter setting, or None (plain sharing) for this instance.
        own_norm: give this instance its own ``ln1``/``ln2`` (filled from the source layer by
            :meth:`copy_from_source`); otherwise the shared block's norms are used.
        norm_factory: builds a LayerNorm of a given width (for own norms).
        gate: add zero-initialised per-channel gates on both residual branches (the instance
            then starts as the identity: function preservation for inserted layers).
        drop_path_rate: stochastic-depth rate of this instance.
        window_size: 0 for global attention, otherwise the attention window (patch tokens only).
        rel_pos_hw: when non-zero, add decomposed relative position tables for a token grid of
            this ``(H, W)`` (the window, or the whole grid for global attention); zero-initialised.
    """

    def __init__(self, source: int, embed_dims: int, num_heads: int, feedforward_channels: int,
                 adapter: Optional[AdapterConfig] = None, own_norm: bool = False,
                 norm_factory: Optional[NormFactory] = None, gate: bool = False,
                 drop_path_rate: float = 0.0, window_size: int = 0,
                 rel_pos_hw: Tuple[int, int] = (0, 0)) -> None:
        super().__init__()
        self.source = source
        self.drop_path_rate = drop_path_rate
        self.window_size = window_size
        self.lora = nn.ModuleDict()
        self.adapter = nn.ModuleDict()
        if adapter is not None and adapter.type == 'lora':
            shapes = {'qkv': (embed_dims, 3 * embed_dims), 'proj': (embed_dims, embed_dims),
                      'fc1': (embed_dims, feedforward_channels),
                      'fc2': (feedforward_channels, embed_dims)}
            for target in adapter.targets:
                d_in, d_out = shapes[target]
                self.lora[target] = LoRA(d_in, d_out, adapter.rank, adapter.lora_alpha,
                                         adapter.dropout)
        elif adapter is not None:
            for position in adapter.positions:
                self.adapter[position] = Bottleneck(embed_dims, adapter.width, adapter.scale)
        if own_norm:
            factory = norm_factory or (lambda d: nn.LayerNorm(d, eps=1e-6))
            self.ln1: Optional[nn.Module] = factory(embed_dims)
            self.ln2: Optional[nn.Module] = factory(embed_dims)
        else:
            self.ln1 = None
            self.ln2 = None
        if gate:
            self.gate1: Optional[nn.Parameter] = nn.Parameter(torch.zeros(embed_dims))
            self.gate2: Optional[nn.Parameter] = nn.Parameter(torch.zeros(embed_dims))
        else:
            self.register_parameter('gate1', None)
            self.register_parameter('gate2', None)
        if rel_pos_hw[0] > 0 and rel_pos_hw[1] > 0:
            head_dim = embed_dims // num_heads
            self.rel_pos_h: Optional[nn.Parameter] = nn.Parameter(
                torch.zeros(2 * rel_pos_hw[0] - 1, head_dim))
            self.rel_pos_w: Optional[nn.Parameter] = nn.Parameter(
                torch.zeros(2 * rel_pos_hw[1] - 1, head_dim))
        else:
            self.register_parameter('rel_pos_h', None)
            self.register_parameter('rel_pos_w', None)
        # Eval-mode cache of merged weights: {target: (key, tensor)}; never saved, never shared.
        self._merged_cache: Dict[str, Tuple[tuple, torch.Tensor]] = {}

    @torch.no_grad()
    def copy_from_source(self, block: 'SharedBlock') -> None:
        """Fill per-instance state derived from the source block (own LayerNorms) from its weights."""
        if self.ln1 is not None:
            self.ln1.load_state_dict(block.ln1.state_dict())
            self.ln2.load_state_dict(block.ln2.state_dict())

    def merged_weight(self, target: str, linear: nn.Linear) -> torch.Tensor:
        """Return ``W + delta`` for ``target``; cached in eval mode without grad.

        Under ``torch.compile`` the merge is traced inline instead: the cache's pointer and
        version checks would break the graph at every linear layer and recompile per target.
        """
        lora = self.lora[target]
        if self.training or torch.is_grad_enabled() or torch.compiler.is_compiling():
            return lora.merged_weight(linear.weight)
        tensors = (linear.weight, lora.lora_A, lora.lora_B)
        key = tuple((t.data_ptr(), t._version, t.dtype, t.device) for t in tensors) + (lora.scaling, )
        hit = self._merged_cache.get(target)
        if hit is not None and hit[0] == key:
            return hit[1]
        merged = lora.merged_weight(linear.weight)
        self._merged_cache[target] = (key, merged)
        return merged

    def train(self, mode: bool = True) -> 'LayerInstance':
        self._merged_cache.clear()
        return super().train(mode)

    def _apply(self, fn, *args, **kwargs):  # type: ignore[override]
        # Device / dtype moves (.to, .cuda, .half, ...) invalidate cached merges. nn.Module has
        # no public hook for them: every one goes through the private ``_apply``, the one place
        # we rely on it (tests/method/test_blocks.py checks that .to() and .double() still do).
        self._merged_cache.clear()
        return super()._apply(fn, *args, **kwargs)

    def __deepcopy__(self, memo):  # caches never travel with copies
        cache, self._merged_cache = self._merged_cache, {}
        try:
            clone = copy.copy(self)
            memo[id(self)] = clone
            for name, value in self.__dict__.items():
                if name != '_merged_cache':
                    setattr(clone, name, copy.deepcopy(value, memo))
            clone._merged_cache = {}
        finally:
            self._merged_cache = cache
        return clone


def adapted_linear(x: torch.Tensor, linear: nn.Linear, instance: LayerInstance,
                   target: str) -> torch.Tensor:
    """``linear(x)`` plus the instance's LoRA delta for ``target`` (if any), at the cheaper cost.

    Folding the delta into the weight costs ``d_out * r * d_in`` once per call; the separate
    branch costs ``tokens * r * (d_in + d_out)``. The fold is used when it is cheaper (many
    tokens), when results are cached (eval), and never when LoRA input dropout is active.
    """
    lora = instance.lora[target] if target in instance.lora else None
    if lora is None:
        return F.linear(x, linear.weight, linear.bias)
    if lora.has_dropout:
        return F.linear(x, linear.weight, linear.bias) + lora.branch(x)
    tokens = x.numel() // x.shape[-1]
    d_out, d_in = linear.weight.shape
    cached = not instance.training and not torch.is_grad_enabled()
    if cached or tokens * (d_in + d_out) >= d_in * d_out:
        return F.linear(x, instance.merged_weight(target, linear), linear.bias)
    return F.linear(x, linear.weight, linear.bias) + lora.branch(x)


class SharedBlock(nn.Module):
    """One pretrained pre-norm ViT layer whose tensors are shared by several instances.

    Args:
        embed_dims: token width.
        num_heads: attention heads.
        feedforward_channels: hidden width of the MLP.
        qkv_bias: whether the qkv projection has a bias.
        norm_factory: builds the LayerNorms (default ``nn.LayerNorm(eps=1e-6)``).
        drop_rate: dropout after the attention projection and in the MLP.
        attn_drop_rate: dropout on attention probabilities.
    """

    def __init__(self, embed_dims: int, num_heads: int, feedforward_channels: int,
                 qkv_bias: bool = True, norm_factory: Optional[NormFactory] = None,
                 drop_rate: float = 0.0, attn_drop_rate: float = 0.0) -> None:
        super().__init__()
        factory = norm_factory or (lambda d: nn.LayerNorm(d, eps=1e-6))
        self.embed_dims = embed_dims
        self.ln1 = factory(embed_dims)
        self.attn = Attention(embed_dims, num_heads, qkv_bias)
        self.ln2 = factory(embed_dims)
        self.ffn = FFN(embed_dims, feedforward_channels)
        self.drop_rate = drop_rate
        self.attn_drop_rate = attn_drop_rate

    def _self_attention(self, x: torch.Tensor, instance: LayerInstance,
                        hw: Tuple[int, int]) -> torch.Tensor:
        """Multi-head attention over ``x`` (B, N, C) whose tokens form the grid ``hw``."""
        B, N, C = x.shape
        heads = self.attn.num_heads
        qkv = adapted_linear(x, self.attn.qkv, instance, 'qkv')
        q, k, v = qkv.reshape(B, N, 3, heads, C // heads).permute(2, 0, 3, 1, 4).unbind(0)
        bias = None
        if instance.rel_pos_h is not None:
            bias = decomposed_rel_pos_bias(q, instance.rel_pos_h, instance.rel_pos_w, hw)
        out = F.scaled_dot_product_attention(
            q, k, v, attn_mask=bias,
            dropout_p=self.attn_drop_rate if self.training else 0.0)
        return out.transpose(1, 2).reshape(B, N, C)

    def forward(self, x: torch.Tensor, instance: LayerInstance, hw: Tuple[int, int],
                num_extra_tokens: int = 0) -> torch.Tensor:
        """Run this block as ``instance`` on tokens ``x`` (B, num_extra_tokens + H*W, C)."""
        ln1 = instance.ln1 if instance.ln1 is not None else self.ln1
        ln2 = instance.ln2 if instance.ln2 is not None else self.ln2

        h = ln1(x)
        if instance.window_size > 0:
            if num_extra_tokens:
                raise ValueError('window attention needs patch tokens only; build the backbone '
                                 'with with_cls_token=False for windowed instances')
            B, _, C = h.shape
            ws = instance.window_size
            windows, padded = partition_windows(h.view(B, hw[0], hw[1], C), ws)
            a = self._self_attention(windows, instance, (ws, ws))
            a = merge_windows(a, ws, padded, hw).view(B, -1, C)
        else:
            a = self._self_attention(h, instance, hw)
        a = adapted_linear(a, self.attn.proj, instance, 'proj')
        a = F.dropout(a, self.drop_rate, self.training)
        x = instance_residual(x, a, h, instance, 'attn', instance.gate1, self.training)

        h = ln2(x)
        f = F.gelu(adapted_linear(h, self.ffn.fc1, instance, 'fc1'))
        f = F.dropout(f, self.drop_rate, self.training)
        f = adapted_linear(f, self.ffn.fc2, instance, 'fc2')
        f = F.dropout(f, self.drop_rate, self.training)
        return instance_residual(x, f, h, instance, 'ffn', instance.gate2, self.training)



def instance_residual(x: torch.Tensor, branch: torch.Tensor, h: torch.Tensor,
                      instance: 'LayerInstance', adapter_key: str, gate: Optional[torch.Tensor],
                      training: bool) -> torch.Tensor:
    """``x + drop_path(gate * (branch + adapter(h)))``: how one instance adds a branch (its
    attention or its MLP, computed from ``h``) to the residual stream. The parallel adapter
    under ``adapter_key`` and the gate are the instance's own, as is its drop-path rate. Shared
    by the ViT and the Swin blocks."""
    if adapter_key in instance.adapter:
        branch = branch + instance.adapter[adapter_key](h)
    if gate is not None:
        branch = branch * gate
    return x + drop_path(branch, instance.drop_path_rate, training)


def run_instances(x: torch.Tensor, blocks: Sequence[SharedBlock],
                  instances: Sequence[LayerInstance], hw: Tuple[int, int],
                  num_extra_tokens: int = 0, with_cp: bool = False,
                  on_output: Optional[Callable[[int, torch.Tensor], None]] = None) -> torch.Tensor:
    """Run every instance in order (instance ``i`` uses ``blocks[instances[i].source]``).

    ``on_output(i, x)`` is called after each instance (the backbone collects its outputs).
    With ``with_cp`` each instance is recomputed in backward through *non-reentrant*
    checkpointing: reentrant checkpointing with a tensor used by several blocks makes DDP fail
    with "marked as ready twice".
    """
    for index, instance in enumerate(instances):
        block = blocks[instance.source]
        if with_cp and x.requires_grad:
            x = torch.utils.checkpoint.checkpoint(block, x, instance, hw, num_extra_tokens,
                                                  use_reentrant=False)
        else:
            x = block(x, instance, hw, num_extra_tokens)
        if on_output is not None:
            on_output(index, x)
    return x
