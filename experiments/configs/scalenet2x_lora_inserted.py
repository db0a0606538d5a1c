"""Adapter study: LoRA on the inserted instances only (the first use of every shared layer
runs it exactly as pretrained, the second use adapts), half of ScaleNet's adapter
parameters. Otherwise as ``configs/cls/fashion_mnist/scalenet_2x_fmnist.py``."""
_base_ = '../../configs/cls/fashion_mnist/scalenet_2x_fmnist.py'

model = dict(backbone=dict(adapter=dict(apply_to='inserted')))
