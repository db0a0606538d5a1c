"""Evidence ablation: ScaleNet's cyclic sharing without adapters (every use of a pretrained
layer is identical). Everything else as ``scalenet2x_cyclic_lora.py``."""
_base_ = './scalenet2x_cyclic_lora.py'

model = dict(backbone=dict(adapter=None))
