"""Evidence ablation: growth without sharing (stacking). A plain 2L-layer ViT whose layers
L..2L-1 start as copies of the pretrained layers 0..L-1 (the cyclic map, but every copy is
its own tensor, trained separately) and whose head is the pretrained head.

The stacked checkpoint is written by ``experiments.scalenet_evidence.make_stacked_checkpoint``
(``experiments/reproduce_scalenet.py`` does it and sets the two ``checkpoint`` keys below).
"""
_base_ = './fmnist_vit_base.py'

stacked = 'work_dirs/evidence/stacked.pth'
model = dict(
    backbone=dict(
        arch=dict(num_layers=8),
        depth=1.0,
        adapter=None,
        init_cfg=dict(type='Pretrained', checkpoint=stacked, prefix='backbone.')),
    head=dict(init_cfg=dict(type='Pretrained', checkpoint=stacked, prefix='head.',
                            _delete_=True)),
)
train_cfg = dict(max_epochs=5)
