"""Detection experiment, the control of the grow stage: the seed's pretrained detection
backbone (``configs/cls/fashion_mnist/vit_det_pretrain_fmnist.py``) trained as many more
classifier epochs as the grow stage, *without* growing (its L layers, no adapters).

The detector arm ``vit_L_continued`` starts from it, so that "ScaleNet's detector beats its
base's" cannot be read as "more classifier epochs help the detector". Backbone and head are
loaded from the base classifier; the experiment sets the checkpoint, sizes, epochs and the
attention layout (``--cfg-options``).
"""
_base_ = ['../../configs/cls/fashion_mnist/vit_det_pretrain_fmnist.py']

pretrained = None  # set by the experiment: the seed's published base classifier
model = dict(
    backbone=dict(init_cfg=dict(type='Pretrained', checkpoint=pretrained, prefix='backbone.')),
    head=dict(init_cfg=dict(_delete_=True, type='Pretrained', checkpoint=pretrained,
                            prefix='head.')),
)
