"""A simple feature pyramid built from a plain ViT's single stride-16 map (ViTDet).

A plain (non-hierarchical) backbone gives one map at stride 16. ViTDet (Li et al., 2022)
shows that a detector does not need a hierarchical backbone or top-down fusion: parallel
deconvolutions / pooling of that last map into strides 4, 8, 16 and 32, each followed by a
1x1 and a 3x3 convolution with LayerNorm, are enough. One more max-pooled level (stride 64)
gives the five levels mmdet's RPN anchors expect.
"""
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import ConvModule, build_norm_layer
from mmengine.model import BaseModule

from ...registry import register_model
from ..layers import LayerNorm2d

#: Scale factors the pyramid can produce from the stride-16 map, and how.
SUPPORTED_SCALES = (4.0, 2.0, 1.0, 0.5)


@register_model
class SimpleFeaturePyramid(BaseModule):
    """Multi-scale maps from one backbone map: ViTDet's simple feature pyramid.

    For each scale factor the input map (``C = in_channels``) is resampled:

    - 4x: deconv 2x2/2 (C -> C/2), norm, GELU, deconv 2x2/2 (C/2 -> C/4);
    - 2x: deconv 2x2/2 (C -> C/2);
    - 1x: identity;
    - 0.5x: max-pool 2x2/2;

    then projected by a 1x1 conv + norm and a 3x3 conv + norm (no activation) to
    ``out_channels``. Levels beyond ``len(scale_factors)`` up to ``num_outs`` are max-pooled
    (kernel 1, stride 2) from the last level, as detectron2's ``LastLevelMaxPool``.

    Args:
        in_channels: channels of the backbone map (the ViT's ``embed_dims``).
        out_channels: channels of every output level.
        scale_factors: resampling of the input for each main level, from the finest; a
            subset (in order) of ``(4.0, 2.0, 1.0, 0.5)``. With a stride-16 backbone the
            default gives strides 4, 8, 16, 32.
        num_outs: number of output levels (>= ``len(scale_factors)``); 5 for mmdet's RPN
            with anchor strides 4..64.
        norm_cfg: norm after each deconv / conv; ``LayerNorm2d`` as ViTDet (the default
            names the class, so it builds without a registry scope; configs write
            ``dict(type='LayerNorm2d')``).
        init_cfg: mmengine init config (the convs default to ConvModule's Kaiming init).
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: int = 256,
                 scale_factors: Sequence[float] = SUPPORTED_SCALES,
                 num_outs: int = 5,
                 norm_cfg: Dict = dict(type=LayerNorm2d),
                 init_cfg: Optional[Union[Dict, List[Dict]]] = None) -> None:
        super().__init__(init_cfg)
        scale_factors = tuple(float(s) for s in scale_factors)
        if not scale_factors or any(s not in SUPPORTED_SCALES for s in scale_factors):
            raise ValueError(f'scale_factors={scale_factors} must be a non-empty subset of '
                             f'{SUPPORTED_SCALES}')
        if list(scale_factors) != sorted(scale_factors, reverse=True) or \
                len(set(scale_factors)) != len(scale_factors):
            raise ValueError(f'scale_factors={scale_factors} must be distinct and ordered from '
                             f'the finest level (largest factor) to the coarsest')
        if num_outs < len(scale_factors):
            raise ValueError(f'num_outs={num_outs} is smaller than the {len(scale_factors)} '
                             f'levels of scale_factors={scale_factors}')
        if in_channels % 4:
            raise ValueError(f'in_channels={in_channels} must be divisible by 4 (the 4x level '
                             f'has in_channels // 4 channels)')
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.scale_factors = scale_factors
        self.num_outs = num_outs

        self.stages = nn.ModuleList()
        self.lateral_convs = nn.ModuleList()
        self.output_convs = nn.ModuleList()
        for scale in scale_factors:
            stage, channels = self._resampler(scale, in_channels, norm_cfg)
            self.stages.append(stage)
            self.lateral_convs.append(
                ConvModule(channels, out_channels, 1, norm_cfg=norm_cfg, act_cfg=None))
            self.output_convs.append(
                ConvModule(out_channels, out_channels, 3, padding=1, norm_cfg=norm_cfg,
                           act_cfg=None))

    @staticmethod
    def _resampler(scale: float, channels: int, norm_cfg: Dict) -> Tuple[nn.Module, int]:
        """The module that resamples the input by ``scale`` and its output channels."""
        if scale == 4.0:
            return nn.Sequential(
                nn.ConvTranspose2d(channels, channels // 2, kernel_size=2, stride=2),
                build_norm_layer(norm_cfg, channels // 2)[1],
                nn.GELU(),
                nn.ConvTranspose2d(channels // 2, channels // 4, kernel_size=2, stride=2),
            ), channels // 4
        if scale == 2.0:
            return nn.ConvTranspose2d(channels, channels // 2, kernel_size=2, stride=2), \
                channels // 2
        if scale == 1.0:
            return nn.Identity(), channels
        return nn.MaxPool2d(kernel_size=2, stride=2), channels

    def forward(self, inputs: Sequence[torch.Tensor]) -> Tuple[torch.Tensor, ...]:
        """Build the pyramid from ``inputs``: the backbone's outputs, exactly one map."""
        if len(inputs) != 1:
            raise ValueError(f'SimpleFeaturePyramid takes exactly one backbone map, got '
                             f'{len(inputs)}; build the backbone with one out index '
                             f'(e.g. out_indices=(-1,))')
        x = inputs[0]
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f'expected a (N, {self.in_channels}, H, W) map, got shape '
                             f'{tuple(x.shape)}; set in_channels to the backbone width and use '
                             f"out_type='featmap'")
        outs = [output_conv(lateral_conv(stage(x))) for stage, lateral_conv, output_conv in zip(
            self.stages, self.lateral_convs, self.output_convs)]
        while len(outs) < self.num_outs:
            outs.append(F.max_pool2d(outs[-1], kernel_size=1, stride=2))
        return tuple(outs)
