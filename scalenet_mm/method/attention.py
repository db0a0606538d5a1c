"""Attention helpers for shared ViT blocks: window partitioning and decomposed relative position.

These are the ViTDet pieces (window attention in most blocks, global in a few, optional
decomposed relative position bias) written for ``F.scaled_dot_product_attention``: the
relative position terms become an additive float mask instead of a materialised attention map.
"""
from typing import Tuple

import torch
import torch.nn.functional as F


def window_partition(x: torch.Tensor, window_size: int) -> Tuple[torch.Tensor, Tuple[int, int]]:
    """Split ``(B, H, W, C)`` into ``(B * nW, window_size**2, C)`` windows, zero-padding H and W.

    Returns the windows and the padded size ``(Hp, Wp)`` needed by :func:`window_unpartition`.
    """
    B, H, W, C = x.shape
    pad_h = (window_size - H % window_size) % window_size
    pad_w = (window_size - W % window_size) % window_size
    if pad_h or pad_w:
        x = F.pad(x, (0, 0, 0, pad_w, 0, pad_h))
    Hp, Wp = H + pad_h, W + pad_w
    x = x.view(B, Hp // window_size, window_size, Wp // window_size, window_size, C)
    windows = x.permute(0, 1, 3, 2, 4, 5).reshape(-1, window_size * window_size, C)
    return windows, (Hp, Wp)


def window_unpartition(windows: torch.Tensor, window_size: int, padded_hw: Tuple[int, int],
                       hw: Tuple[int, int]) -> torch.Tensor:
    """Inverse of :func:`window_partition`: ``(B * nW, ws*ws, C)`` back to ``(B, H, W, C)``."""
    Hp, Wp = padded_hw
    H, W = hw
    B = windows.shape[0] // ((Hp // window_size) * (Wp // window_size))
    x = windows.view(B, Hp // window_size, Wp // window_size, window_size, window_size, -1)
    x = x.permute(0, 1, 3, 2, 4, 5).reshape(B, Hp, Wp, -1)
    if Hp > H or Wp > W:
        x = x[:, :H, :W, :].contiguous()
    return x


def get_rel_pos(q_size: int, k_size: int, rel_pos: torch.Tensor) -> torch.Tensor:
    """Relative position embeddings for every (query, key) pair along one axis.

    ``rel_pos`` has ``2 * size - 1`` rows; it is linearly resized when the axis length differs
    from the one it was created for (e.g. a new input size). Returns ``(q_size, k_size, C)``.
    """
    max_rel_dist = int(2 * max(q_size, k_size) - 1)
    if rel_pos.shape[0] != max_rel_dist:
        resized = F.interpolate(rel_pos.reshape(1, rel_pos.shape[0], -1).permute(0, 2, 1),
                                size=max_rel_dist, mode='linear')
        rel_pos = resized.reshape(-1, max_rel_dist).permute(1, 0)
    q_coords = torch.arange(q_size, device=rel_pos.device)[:, None] * max(k_size / q_size, 1.0)
    k_coords = torch.arange(k_size, device=rel_pos.device)[None, :] * max(q_size / k_size, 1.0)
    relative = (q_coords - k_coords) + (k_size - 1) * max(q_size / k_size, 1.0)
    return rel_pos[relative.long()]


def decomposed_rel_pos_bias(q: torch.Tensor, rel_pos_h: torch.Tensor, rel_pos_w: torch.Tensor,
                            hw: Tuple[int, int]) -> torch.Tensor:
    """Additive attention bias of decomposed relative positions (MViTv2 / ViTDet).

    Args:
        q: queries ``(B, heads, H*W, head_dim)`` (unscaled).
        rel_pos_h, rel_pos_w: per-axis tables ``(2*size-1, head_dim)``.
        hw: the token grid ``(H, W)``.

    Returns:
        ``(B, heads, H*W, H*W)`` bias to pass as ``attn_mask`` to scaled_dot_product_attention.
    """
    H, W = hw
    B, heads, _, dim = q.shape
    Rh = get_rel_pos(H, H, rel_pos_h).to(q.dtype)
    Rw = get_rel_pos(W, W, rel_pos_w).to(q.dtype)
    r_q = q.reshape(B, heads, H, W, dim)
    rel_h = torch.einsum('bnhwc,hkc->bnhwk', r_q, Rh)
    rel_w = torch.einsum('bnhwc,wkc->bnhwk', r_q, Rw)
    bias = rel_h[..., :, None] + rel_w[..., None, :]
    return bias.reshape(B, heads, H * W, H * W)
