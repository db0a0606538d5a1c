"""Evidence arm 1: the "pretrained" model, a plain ViT of L layers trained from scratch.

Its last checkpoint initialises every ScaleNet arm (backbone and classifier head), as a
pretrained DeiT initialises the paper's scaled models. L and the epochs E are set by
``experiments/reproduce_scalenet.py`` (``model.backbone.arch.num_layers``, ``train_cfg.max_epochs``).
"""
_base_ = './fmnist_vit_base.py'

model = dict(backbone=dict(arch=dict(num_layers=4), depth=1.0, adapter=None))
train_cfg = dict(max_epochs=15)
