# COCO instance segmentation with large-scale jitter at 1024 (ViTDet / Copy-Paste recipe):
# random resize of the 1024 canvas by 0.1-2.0, random 1024x1024 crop, flip. Testing resizes the
# long side to 1024 and pads to 1024x1024 with the mean colour (0 after normalisation, as the
# training batches' padding), so train and test see the same token grid.
_base_ = 'mmdet::_base_/datasets/coco_instance.py'

image_size = (1024, 1024)
backend_args = None

train_pipeline = [
    dict(type='CheckedLoadImageFromFile', backend_args=backend_args),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='RandomResize', scale=image_size, ratio_range=(0.1, 2.0), keep_ratio=True),
    dict(
        type='RandomCrop',
        crop_type='absolute_range',
        crop_size=image_size,
        recompute_bbox=True,
        allow_negative_crop=True),
    dict(type='FilterAnnotations', min_gt_bbox_wh=(1e-2, 1e-2)),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs')
]
test_pipeline = [
    dict(type='CheckedLoadImageFromFile', backend_args=backend_args),
    dict(type='Resize', scale=image_size, keep_ratio=True),
    # BGR mean of the data preprocessor: the padding normalises to 0.
    dict(type='Pad', size=image_size, pad_val=dict(img=(104, 116, 124))),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(
        type='PackDetInputs',
        meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor'))
]

# 2 images per GPU; the schedule is written for 8 GPUs (16 images per iteration).
train_dataloader = dict(
    batch_size=2,
    num_workers=4,
    batch_sampler=None,  # every LSJ sample is a 1024 crop: no aspect-ratio grouping needed
    dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
