# Baseline: the plain 12-layer DeiT-B in the same ViTDet-style Mask R-CNN and recipe as the
# ScaleNet configs. ScaleNetViT with depth=12 and adapter=None is exactly a plain ViT (identity
# layer map, no adapters: the same tensors, names and computation as mmpretrain's
# VisionTransformer), and unlike mmpretrain's ViT it has ViTDet's window attention and
# relative positions, so the only difference from the ScaleNet configs is the depth scaling.
# Global attention in blocks 2, 5, 8, 11 and layer decay 0.7, as ViTDet's ViT-B.
# Batch: 8 GPUs x 2 images = 16 images per iteration (see the schedule base).
_base_ = [
    './_base_/models/mask-rcnn_scalenet-vit_simple-fpn.py',
    './_base_/datasets/coco-instance_lsj-1024.py',
    './_base_/schedules/adamw-layer-decay_lsj-184k.py',
]

custom_imports = dict(imports=['scalenet_mm'], allow_failed_imports=False)

pretrained = 'https://dl.fbaipublicfiles.com/deit/deit_base_patch16_224-b5f2ef4d.pth'

model = dict(
    backbone=dict(
        arch='deit-base',
        depth=12,
        adapter=None,
        window_size=14,
        global_attn_indexes=(2, 5, 8, 11),
        drop_path_rate=0.1,
        init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
    neck=dict(in_channels=768))

optim_wrapper = dict(paramwise_cfg=dict(layer_decay_rate=0.7))
