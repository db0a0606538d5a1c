# ScaleNet DeiT-S 2x: the 12 pretrained DeiT-Small layers run as 24 layer instances (cyclic
# map, LoRA rank-10 adapters and rel-pos tables per instance) in a ViTDet-style Mask R-CNN,
# trained from the public DeiT-S ImageNet weights. To start from a ScaleNet classification
# checkpoint: --cfg-options model.backbone.init_cfg.checkpoint=<ckpt> \
#                           model.backbone.init_cfg.prefix=backbone.
# Batch: 8 GPUs x 2 images = 16 images per iteration (see the schedule base).
_base_ = [
    './_base_/models/mask-rcnn_scalenet-vit_simple-fpn.py',
    './_base_/datasets/coco-instance_lsj-1024.py',
    './_base_/schedules/adamw-layer-decay_lsj-184k.py',
]

custom_imports = dict(imports=['scalenet_mm'], allow_failed_imports=False)

pretrained = 'https://dl.fbaipublicfiles.com/deit/deit_small_patch16_224-cd65a155.pth'

model = dict(
    backbone=dict(
        arch='deit-small',
        depth=24,
        adapter=dict(type='lora', rank=10, targets=('qkv', 'proj', 'fc1', 'fc2')),
        window_size=14,
        global_attn_indexes=(5, 11, 17, 23),
        drop_path_rate=0.1,
        init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
    neck=dict(in_channels=384))

optim_wrapper = dict(paramwise_cfg=dict(layer_decay_rate=0.8))
