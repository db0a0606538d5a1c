"""Baseline of ``scalenet_swin_t2x_in1k.py``: a plain Swin of Swin-T widths and the 2x depths
(4, 4, 12, 4; every block its own weights; mmpretrain's ``SwinTransformer``) trained from
scratch with the same Swin recipe for its full 300 epochs (warm-up 20).

Batch: 8 GPUs x 128 images = 1024 (``8xb128``), lr 1e-3.
"""
_base_ = ['./scalenet_swin_t2x_in1k.py']

model = dict(
    backbone=dict(
        _delete_=True,
        type='SwinTransformer',
        arch=dict(embed_dims=96, depths=[4, 4, 12, 4], num_heads=[3, 6, 12, 24]),
        img_size=224,
        drop_path_rate=0.2))

param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, end=20, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=1e-5, by_epoch=True, begin=20,
         convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=300)
