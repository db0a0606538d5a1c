"""Ablation: ScaleNet with zero-initialised gates on the inserted instances, so the grown
model computes exactly the base model at the first step (function preserving); otherwise as
``configs/cls/fashion_mnist/scalenet_2x_fmnist.py``."""
_base_ = '../../configs/cls/fashion_mnist/scalenet_2x_fmnist.py'

model = dict(backbone=dict(gate_inserted=True))
