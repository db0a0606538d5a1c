"""Evidence ablation: ScaleNet with zero-initialised gates on the inserted instances, so the
expanded model computes exactly the pretrained model at the first step (function
preserving); otherwise as ``scalenet2x_cyclic_lora.py``."""
_base_ = './scalenet2x_cyclic_lora.py'

model = dict(backbone=dict(gate_inserted=True))
