# ScaleNet Swin-T 2x in mmdet's Swin-T Mask R-CNN (FPN, 1x schedule, its recipe unchanged): the
# backbone keeps Swin-T's 2, 2, 6, 2 pretrained blocks once per stage and runs them as 4, 4,
# 12, 4 instances (cyclic map, rank-10 LoRA per instance), from the official Swin-T ImageNet
# weights that mmdet's config uses (Microsoft's release layout, converted on load).
# pad_small_map=True is mmdet's Swin behaviour (pad maps smaller than the window, always shift).
# Batch: 8 GPUs x 2 images (mmdet's 1x schedule).
_base_ = ['mmdet::swin/mask-rcnn_swin-t-p4-w7_fpn_1x_coco.py']

custom_imports = dict(imports=['scalenet_mm'], allow_failed_imports=False)

pretrained = 'https://github.com/SwinTransformer/storage/releases/download/v1.0.0/swin_tiny_patch4_window7_224.pth'  # noqa: E501
model = dict(
    backbone=dict(
        _delete_=True,
        type='ScaleNetSwin',
        arch='tiny',
        depth=2.0,
        layer_map='cyclic',
        adapter=dict(type='lora', rank=10, targets=('qkv', 'proj', 'fc1', 'fc2')),
        window_size=7,
        drop_path_rate=0.2,
        out_indices=(0, 1, 2, 3),
        pad_small_map=True,
        with_cp=False,
        init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
    neck=dict(in_channels=[96, 192, 384, 768]))
