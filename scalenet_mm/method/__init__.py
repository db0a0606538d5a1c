"""The ScaleNet method in plain PyTorch: layer maps, adapters and the shared-block forward.

Nothing here imports mmengine, mmpretrain or mmdet, so it can be reused on any ViT.
"""
from .adapters import AdapterConfig, Bottleneck, LoRA
from .blocks import LayerInstance, SharedBlock, adapted_linear, run_instances
from .layer_map import (SHARED_DEPTH_RULES, build_layer_map, first_use, inserted_instances,
                        last_use, resolve_depth, shared_use)
from .swin import (SharedSwinBlock, SwinLayerInstance, build_stage_maps, check_shift_pattern,
                   resolve_stage_depths, run_swin_instances)

__all__ = [
    'AdapterConfig', 'Bottleneck', 'LoRA', 'LayerInstance', 'SharedBlock', 'adapted_linear',
    'run_instances', 'build_layer_map', 'first_use', 'last_use', 'shared_use', 'SHARED_DEPTH_RULES',
    'inserted_instances', 'resolve_depth',
    'SharedSwinBlock', 'SwinLayerInstance', 'build_stage_maps', 'check_shift_pattern',
    'resolve_stage_depths', 'run_swin_instances'
]
