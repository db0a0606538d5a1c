"""Evidence arm 3 (ScaleNet): the pretrained L-layer ViT run as 2L layer instances.

Cyclic layer map (instance i runs pretrained layer i % L, the same tensors, not copies) with
one LoRA set per instance on qkv, proj, fc1 and fc2. The backbone is loaded by the project's
loader (``init_cfg`` type ``Pretrained``) and the classifier head by mmengine's, both from the
pretrained arm's checkpoint, which ``experiments/reproduce_scalenet.py`` sets in
``model.backbone.init_cfg.checkpoint`` and ``model.head.init_cfg.checkpoint``.

LoRA rank: the paper's rank 10 is for width 192 (DeiT-Tiny, +13% parameters at 2x depth);
rank 3 keeps about the same rank/width ratio and parameter share at width 64.
"""
_base_ = './fmnist_vit_base.py'

pretrained = 'work_dirs/evidence/pretrain/last.pth'
model = dict(
    backbone=dict(
        arch=dict(num_layers=4),
        depth=2.0,
        layer_map='cyclic',
        adapter=dict(type='lora', rank=3, targets=('qkv', 'proj', 'fc1', 'fc2'), _delete_=True),
        gate_inserted=False,
        init_cfg=dict(type='Pretrained', checkpoint=pretrained, prefix='backbone.')),
    head=dict(init_cfg=dict(type='Pretrained', checkpoint=pretrained, prefix='head.',
                            _delete_=True)),
)
train_cfg = dict(max_epochs=5)
