"""Control of the Swin arm: the step-(a) Swin (``swin_fmnist.py``) trained further WITHOUT
growing: ``scalenet_swin_2x_fmnist.py`` (same start weights for backbone and head, same lr,
epochs and data) with its two blocks per stage run once. It separates the gain of the deeper
model from the gain of training longer. Batch: 1 process x 64 images (``1xb64``), lr 5e-4.
"""
_base_ = ['./swin_fmnist.py']
custom_imports = dict(imports=['scalenet_mm'], allow_failed_imports=False)

pretrained = 'work_dirs/evidence_swin/runs/swin_pretrain_seed0/published/swin.pth'
model = dict(
    backbone=dict(init_cfg=dict(type='Pretrained', checkpoint=pretrained, prefix='backbone.')),
    head=dict(init_cfg=dict(_delete_=True, type='Pretrained', checkpoint=pretrained,
                            prefix='head.')),
)

optim_wrapper = dict(optimizer=dict(lr=5e-4))
train_cfg = dict(max_epochs=3)
