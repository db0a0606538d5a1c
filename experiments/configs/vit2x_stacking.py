"""Ablation: growth without sharing (stacking). The plain deep ViT of
``configs/cls/fashion_mnist/vit_L8_fmnist.py`` whose layers L..2L-1 start as copies of the base
layers 0..L-1 (the cyclic map, but every copy is its own tensor, trained separately) and whose
head is the base model's head; trained with the growth arms' epochs and learning rate.

The stacked checkpoint is written by ``experiments.scalenet_evidence.make_stacked_checkpoint``
(the experiment does it and sets the two ``checkpoint`` keys below).
"""
_base_ = '../../configs/cls/fashion_mnist/vit_L8_fmnist.py'

stacked = 'work_dirs/evidence/stacked.pth'
model = dict(
    backbone=dict(init_cfg=dict(type='Pretrained', checkpoint=stacked, prefix='backbone.')),
    head=dict(init_cfg=dict(_delete_=True, type='Pretrained', checkpoint=stacked,
                            prefix='head.')),
)
