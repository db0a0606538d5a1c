"""Control arm of the main job: the step-(a) ViT trained further WITHOUT expansion.

Identical to ``scalenet_2x_fmnist.py`` (same start weights for backbone and head, same lr,
epochs and data) except that the model keeps its L layers. Comparing the two separates the
gain of the deeper ScaleNet model from the gain of simply training longer.
``tools/run_main_job.py`` runs it unless ``--no-baseline`` is given.

Batch: 1 process x 64 images (``1xb64``), lr 2e-3 (step (a)'s, as for step (b)).
"""
_base_ = ['./vit_L4_fmnist.py']
custom_imports = dict(imports=['scalenet_mm'], allow_failed_imports=False)

pretrained = 'work_dirs/quickstart/runs/pretrain_seed0/published/vit_L.pth'
model = dict(
    backbone=dict(init_cfg=dict(type='Pretrained', checkpoint=pretrained, prefix='backbone.')),
    head=dict(init_cfg=dict(_delete_=True, type='Pretrained', checkpoint=pretrained,
                            prefix='head.')),
)

train_cfg = dict(max_epochs=3)
