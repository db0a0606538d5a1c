"""Evidence control: the pretrained L-layer ViT trained E' more epochs, without growing.

Same recipe and epochs as the growth arms, same initialisation (backbone and head from the
pretrained arm's checkpoint, set by ``experiments/reproduce_scalenet.py``), but the depth stays L.
It separates what the growth arms gain from the extra depth from what they gain from simply
training the pretrained model longer.
"""
_base_ = './vit_pretrain.py'

pretrained = 'work_dirs/evidence/pretrain/last.pth'
model = dict(
    backbone=dict(init_cfg=dict(type='Pretrained', checkpoint=pretrained, prefix='backbone.')),
    head=dict(init_cfg=dict(type='Pretrained', checkpoint=pretrained, prefix='head.',
                            _delete_=True)),
)
train_cfg = dict(max_epochs=5)
