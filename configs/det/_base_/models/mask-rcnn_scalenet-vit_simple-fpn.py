# Mask R-CNN on a plain ViT, ViTDet style (Li et al., 2022): ScaleNetViT with window attention
# in most instances and global attention in four, a simple feature pyramid built from its
# single stride-16 map, LayerNorm in the pyramid and the RoI heads, 2-conv RPN head and a
# 4-conv + 1-fc box head. The top-level configs choose the architecture and the checkpoint.
_base_ = 'mmdet::_base_/models/mask-rcnn_r50_fpn.py'

custom_imports = dict(imports=['scalenet_mm'], allow_failed_imports=False)

head_norm_cfg = dict(type='LayerNorm2d')

model = dict(
    data_preprocessor=dict(
        pad_size_divisor=32,
        # Every training batch is padded to the fixed LSJ canvas, so the backbone always
        # sees a 64x64 token grid (the grid its global rel-pos tables were made for).
        batch_augments=[dict(type='BatchFixedSizePad', size=(1024, 1024), pad_mask=True)]),
    backbone=dict(
        _delete_=True,
        type='ScaleNetViT',
        arch='deit-base',
        depth=24,
        layer_map='cyclic',
        img_size=1024,
        patch_size=16,
        out_type='featmap',
        with_cls_token=False,
        out_indices=(-1, ),
        final_norm=False,  # the pyramid normalises each level itself
        window_size=14,
        global_attn_indexes=(5, 11, 17, 23),
        use_rel_pos=True,
        drop_path_rate=0.2,
        with_cp=True),  # non-reentrant activation checkpointing: DDP-safe with shared tensors
    neck=dict(
        _delete_=True,
        type='SimpleFeaturePyramid',
        in_channels=768,
        out_channels=256,
        scale_factors=(4.0, 2.0, 1.0, 0.5),
        num_outs=5,
        norm_cfg=head_norm_cfg),
    rpn_head=dict(num_convs=2),
    roi_head=dict(
        bbox_head=dict(
            type='Shared4Conv1FCBBoxHead', conv_out_channels=256, norm_cfg=head_norm_cfg),
        mask_head=dict(norm_cfg=head_norm_cfg)))
