"""Channel LayerNorm for ``(N, C, H, W)`` feature maps.

ViTDet normalises the simple feature pyramid and the RoI heads with a LayerNorm over the
channel dimension of every pixel (its ``LN2d``); BatchNorm would need large per-GPU batches,
which a 1024-pixel detector does not have. Registered as ``LayerNorm2d`` in mmdet's and
mmpretrain's ``MODELS``, so ``norm_cfg=dict(type='LayerNorm2d')`` works in mmcv's
``ConvModule`` and mmdet's heads. (mmpretrain's own version is registered as ``LN2d`` in its
registry only, which mmdet-scoped configs cannot see.)
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

from ...registry import register_model


@register_model
class LayerNorm2d(nn.LayerNorm):
    """LayerNorm over the channels of an ``(N, C, H, W)`` map, independently at each pixel.

    A subclass of :class:`torch.nn.LayerNorm`, so mmcv names it ``ln`` and optimizer
    constructors treat its affine parameters as norm parameters (no weight decay).

    Args:
        num_channels: the channel count C.
        eps: added to the variance (1e-6 as ViTDet).
        elementwise_affine: learn a per-channel weight and bias.
    """

    def __init__(self, num_channels: int, eps: float = 1e-6,
                 elementwise_affine: bool = True) -> None:
        super().__init__(num_channels, eps=eps, elementwise_affine=elementwise_affine)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4:
            raise ValueError(f'LayerNorm2d expects an (N, C, H, W) map, got shape {tuple(x.shape)}')
        x = x.permute(0, 2, 3, 1)
        x = F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)
        return x.permute(0, 3, 1, 2)
