"""Diagnosis: ScaleNet whose shared pretrained tensors (``backbone.layers.*``) train at 0.1x
the growth learning rate, the per-instance LoRA (``backbone.instances.*``), embeddings and
head at the full rate. In a grown model every shared tensor receives the gradients of all
its instances at once; a lower rate keeps the pretrained function and leaves specialising
to the adapters, which is what the adapters are for. Otherwise as
``configs/cls/fashion_mnist/scalenet_2x_fmnist.py``."""
_base_ = '../../configs/cls/fashion_mnist/scalenet_2x_fmnist.py'

optim_wrapper = dict(paramwise_cfg=dict(custom_keys={'backbone.layers.': dict(lr_mult=0.1)}))
