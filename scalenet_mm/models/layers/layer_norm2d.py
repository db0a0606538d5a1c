"""Channel LayerNorm for ``(N, C, H, W)`` feature maps: mmpretrain's, under a name mmdet sees.

ViTDet normalises the simple feature pyramid and the RoI heads with a LayerNorm over the
channel dimension of every pixel (its ``LN2d``); BatchNorm would need large per-GPU batches,
which a 1024-pixel detector does not have. The computation is mmpretrain's
:class:`mmpretrain.models.utils.LayerNorm2d`; this subclass only exists because mmpretrain
registers it as ``LN2d`` in its own registry, which mmdet-scoped configs cannot see, and with
``nn.LayerNorm``'s default ``eps=1e-5`` where ViTDet uses 1e-6. Registered as ``LayerNorm2d`` in
mmdet's and mmpretrain's ``MODELS``, so ``norm_cfg=dict(type='LayerNorm2d')`` works in mmcv's
``ConvModule`` and mmdet's heads.
"""
import torch
from mmpretrain.models.utils import LayerNorm2d as MMPretrainLayerNorm2d

from ...registry import register_model


@register_model
class LayerNorm2d(MMPretrainLayerNorm2d):
    """LayerNorm over the channels of an ``(N, C, H, W)`` map, independently at each pixel.

    A subclass of :class:`torch.nn.LayerNorm` (through mmpretrain's), so mmcv names it ``ln``
    and optimizer constructors treat its affine parameters as norm parameters (no weight decay).

    Args:
        num_channels: the channel count C.
        eps: added to the variance (1e-6 as ViTDet).
        elementwise_affine: learn a per-channel weight and bias.
    """

    def __init__(self, num_channels: int, eps: float = 1e-6,
                 elementwise_affine: bool = True) -> None:
        super().__init__(num_channels, eps=eps, elementwise_affine=elementwise_affine)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        """Normalise a channel-first map (a clear ValueError instead of mmpretrain's assert)."""
        if x.dim() != 4:
            raise ValueError(f'LayerNorm2d expects an (N, C, H, W) map, got shape {tuple(x.shape)}')
        return super().forward(x, data_format='channel_first')
