"""Measuring ScaleNet: unique parameters, optimizer state, checkpoint size, FLOPs per use, and
the side-by-side speed / memory benchmark behind ``tools/analysis``."""
from .flops import count_flops, lora_merge_flops, per_call_flops, scalenet_instance_flops
from .params import (checkpoint_file_bytes, count_parameter_uses, count_unique_parameters,
                     optimizer_state_bytes, state_dict_bytes)

__all__ = [
    'count_flops', 'lora_merge_flops', 'per_call_flops', 'scalenet_instance_flops',
    'checkpoint_file_bytes', 'count_parameter_uses', 'count_unique_parameters',
    'optimizer_state_bytes', 'state_dict_bytes'
]
