"""Diagnosis: ScaleNet's architecture (L shared layers run as 2L instances, cyclic map,
rank-4 LoRA per instance) trained from scratch for the base's full schedule E, with no
pretrained weights.

It separates the two things a ScaleNet run depends on: whether the shared deep architecture
can fit this data better than the L-layer base at all (its capacity), and whether growth
from the converged base reaches what that architecture can reach (the recipe). If this arm
ends near the base, sharing adds no usable capacity in the regime and no growth recipe can
show a gain; if it ends near the 2L-layer model from scratch, the capacity is there and the
gap of the growth runs is the recipe's. Otherwise as
``configs/cls/fashion_mnist/scalenet_2x_fmnist.py``; the head starts as the base's does.
"""
_base_ = '../../configs/cls/fashion_mnist/scalenet_2x_fmnist.py'

model = dict(
    backbone=dict(init_cfg=None),
    head=dict(init_cfg=dict(_delete_=True, type='TruncNormal', layer='Linear', std=.02)),
)
