# Baseline of mask_rcnn_scalenet_swin_t2x.py: mmdet's own Swin-T Mask R-CNN (FPN, 1x schedule,
# official Swin-T ImageNet weights, mmdet's SwinTransformer), unchanged, so that both arms run
# through the project's tools with the same recipe. Batch: 8 GPUs x 2 images.
_base_ = ['mmdet::swin/mask-rcnn_swin-t-p4-w7_fpn_1x_coco.py']

custom_imports = dict(imports=['scalenet_mm'], allow_failed_imports=False)
