# ScaleNet DeiT-B 2x: the 12 pretrained DeiT-Base layers run as 24 layer instances (cyclic map
# 0..11, 0..11, every instance with its own LoRA rank-10 adapters and rel-pos tables) as the
# backbone of a ViTDet-style Mask R-CNN. Trained from the public DeiT-B ImageNet weights; to
# start from a ScaleNet classification checkpoint instead, override the checkpoint (and its key
# prefix), e.g.
#   --cfg-options model.backbone.init_cfg.checkpoint=work_dirs/<cls run>/iter_N.pth \
#                 model.backbone.init_cfg.prefix=backbone.
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
        depth=24,
        adapter=dict(type='lora', rank=10, targets=('qkv', 'proj', 'fc1', 'fc2')),
        window_size=14,
        global_attn_indexes=(5, 11, 17, 23),
        drop_path_rate=0.2,
        init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
    neck=dict(in_channels=768))

# 24 instances: the decay ViTDet uses for its 24-layer ViT-L (0.7 is its 12-layer rate).
optim_wrapper = dict(paramwise_cfg=dict(layer_decay_rate=0.8))
