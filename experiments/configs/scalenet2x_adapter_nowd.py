"""Diagnosis: ScaleNet whose per-instance parameters (LoRA A and B under
``backbone.instances.*``) get no weight decay, the shared pretrained weights the recipe's
0.05. AdamW's decay pulls the zero-initialised LoRA deltas back towards zero at every step
(about 1e-4 of their value a step at lr 2e-3, a quarter over a 4-epoch run), which could keep
the added instances from specialising. Otherwise as
``configs/cls/fashion_mnist/scalenet_2x_fmnist.py``."""
_base_ = '../../configs/cls/fashion_mnist/scalenet_2x_fmnist.py'

optim_wrapper = dict(
    paramwise_cfg=dict(custom_keys={'backbone.instances.': dict(decay_mult=0.0)}))
