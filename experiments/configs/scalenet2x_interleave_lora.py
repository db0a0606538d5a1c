"""Ablation: ScaleNet with the interleaved layer map (0, 0, 1, 1, ...) instead of the cyclic
one; LoRA adapters and everything else as ``configs/cls/fashion_mnist/scalenet_2x_fmnist.py``."""
_base_ = '../../configs/cls/fashion_mnist/scalenet_2x_fmnist.py'

model = dict(backbone=dict(layer_map='interleave'))
