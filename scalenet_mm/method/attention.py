"""Window attention and decomposed relative position for shared ViT blocks, on timm's helpers.

The ViTDet pieces (window attention in most blocks, global in a few, optional decomposed
relative position bias) are timm's own functions from ``timm.models.vision_transformer_sam``;
this module only adapts their tensor layouts to the shared block, which keeps the attention
heads as a separate dimension and feeds ``F.scaled_dot_product_attention`` (the relative
position terms become its additive float mask instead of a materialised attention map).
"""
from typing import Tuple

import torch
from timm.models.vision_transformer_sam import (get_decomposed_rel_pos_bias, window_partition,
                                                window_unpartition)


def partition_windows(x: torch.Tensor, window_size: int) -> Tuple[torch.Tensor, Tuple[int, int]]:
    """Split a ``(B, H, W, C)`` grid into ``(B * nW, window_size**2, C)`` token windows.

    H and W are zero-padded up to multiples of ``window_size`` (timm's ``window_partition``).
    Returns the windows and the padded size ``(Hp, Wp)`` that :func:`merge_windows` needs.
    """
    windows, padded_hw = window_partition(x, window_size)
    return windows.flatten(1, 2), padded_hw


def merge_windows(windows: torch.Tensor, window_size: int, padded_hw: Tuple[int, int],
                  hw: Tuple[int, int]) -> torch.Tensor:
    """Inverse of :func:`partition_windows`: ``(B * nW, ws*ws, C)`` back to ``(B, H, W, C)``."""
    grid = windows.view(windows.shape[0], window_size, window_size, windows.shape[-1])
    # keywords: timm's positional order (hw, pad_hw) differs from the original SAM code's
    return window_unpartition(grid, window_size, hw=hw, pad_hw=padded_hw)


def decomposed_rel_pos_bias(q: torch.Tensor, rel_pos_h: torch.Tensor, rel_pos_w: torch.Tensor,
                            hw: Tuple[int, int]) -> torch.Tensor:
    """Additive attention bias of decomposed relative positions (MViTv2 / ViTDet).

    timm's ``get_decomposed_rel_pos_bias`` with the heads folded into the batch and back.
    The tables are cast to the queries' dtype first (a no-op in full precision), so a
    half-precision forward does not mix dtypes in the einsums outside autocast.

    Args:
        q: queries ``(B, heads, H*W, head_dim)`` (unscaled).
        rel_pos_h, rel_pos_w: per-axis tables ``(2*size-1, head_dim)``; linearly resized by
            timm when the grid differs from the one they were made for.
        hw: the token grid ``(H, W)``.

    Returns:
        ``(B, heads, H*W, H*W)`` bias to pass as ``attn_mask`` to scaled_dot_product_attention.
    """
    B, heads, N, dim = q.shape
    bias = get_decomposed_rel_pos_bias(q.reshape(B * heads, N, dim), rel_pos_h.to(q.dtype),
                                       rel_pos_w.to(q.dtype), hw, hw)
    return bias.reshape(B, heads, N, N)
