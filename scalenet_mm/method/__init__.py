"""The ScaleNet method in plain PyTorch: layer maps, adapters and the shared-block forward.

Nothing here imports mmengine, mmpretrain or mmdet, so it can be reused on any ViT.
"""
from .adapters import AdapterConfig, Bottleneck, LoRA
from .blocks import LayerInstance, SharedBlock, adapted_linear, run_instances
from .layer_map import build_layer_map, first_use, inserted_instances, resolve_depth
from .swin import (SharedSwinBlock, SwinLayerInstance, build_stage_maps, check_shift_pattern,
                   resolve_stage_depths, run_swin_instances)

__all__ = [
    'AdapterConfig', 'Bottleneck', 'LoRA', 'LayerInstance', 'SharedBlock', 'adapted_linear',
    'run_instances', 'build_layer_map', 'first_use', 'inserted_instances', 'resolve_depth',
    'SharedSwinBlock', 'SwinLayerInstance', 'build_stage_maps', 'check_shift_pattern',
    'resolve_stage_depths', 'run_swin_instances'
]
