"""Evidence arm 2: the plain 2L-layer ViT trained from scratch (no sharing, no pretraining).

The baseline ScaleNet must beat: the paper trains it for 3x the epochs of the ScaleNet model.
"""
_base_ = './fmnist_vit_base.py'

model = dict(backbone=dict(arch=dict(num_layers=8), depth=1.0, adapter=None))
train_cfg = dict(max_epochs=15)
