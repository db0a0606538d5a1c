"""Adapter study: ScaleNet whose per-instance parameters (LoRA A and B under
``backbone.instances.*``) train at 4x the growth learning rate (8e-3 at the default 2e-3),
while the shared pretrained weights keep the growth rate. LoRA
practice often gives adapters a higher rate than the weights they adapt (they start from
zero, not from a trained value); mmengine's ``paramwise_cfg.custom_keys`` does it (the key
is a substring of the parameter name). Otherwise as
``configs/cls/fashion_mnist/scalenet_2x_fmnist.py``."""
_base_ = '../../configs/cls/fashion_mnist/scalenet_2x_fmnist.py'

optim_wrapper = dict(paramwise_cfg=dict(custom_keys={'backbone.instances.': dict(lr_mult=4.0)}))
