"""Evidence ablation: ScaleNet with the interleaved layer map (0, 0, 1, 1, ...) instead of the
cyclic one; LoRA adapters and everything else as ``scalenet2x_cyclic_lora.py``."""
_base_ = './scalenet2x_cyclic_lora.py'

model = dict(backbone=dict(layer_map='interleave'))
