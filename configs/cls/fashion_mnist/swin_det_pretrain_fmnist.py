"""The Swin backbone of the Fashion-MNIST detection check, pretrained as a classifier at the
detection scale (``experiments/det_fashion_mnist.py --arms swin scalenet_swin_2x``, step 0).

``swin_fmnist.py`` (the small plain Swin of the evidence experiment, its recipe and data) with
the backbone of the detection arms: four stages of 2 blocks, widths 32, 64, 128, 256 (1, 2, 4
and 8 heads), patch 4 and window 4, ``pad_small_map=True`` (mmdet's Swin behaviour), so every
tensor loads into the detector's ``ScaleNetSwin`` (``experiments.det_evidence.swin`` reads
these sizes from this file; ``scalenet_mm.checkpoint.load_pretrained`` refuses other widths or
blocks per stage). The detector's FPN reads all four stages; this classifier only the last
(its ``norm3``), so the detector's ``norm0``..``norm2`` start fresh.

As for the ViT (``vit_det_pretrain_fmnist.py``), every image is resized from 28 px to 40 px
(bilinear, as the detection set resizes its garments), a 10x10 token grid: the detection
canvases show the garments at 28 to 70 px through the same 4 px patches, so the patch embedding
and the blocks see objects at the scale they were trained on. The stage maps (10, 5, 3, 2 tokens)
are padded to whole windows. The input side is one override: ``--cfg-options
model.backbone.img_size=S train_dataloader.dataset.pipeline.0.scale=S
val_dataloader.dataset.pipeline.0.scale=S test_dataloader.dataset.pipeline.0.scale=S``.

Batch: 1 process x 64 images (``1xb64``), lr 2e-3, as ``swin_fmnist.py``.
"""
_base_ = ['./swin_fmnist.py']
custom_imports = dict(imports=['scalenet_mm'], allow_failed_imports=False)

image_side = 40
model = dict(
    backbone=dict(
        arch=dict(embed_dims=32, depths=(2, 2, 2, 2), num_heads=(1, 2, 4, 8)),
        img_size=image_side,
        patch_size=4,
        window_size=4,
        out_indices=(3, ),
        pad_small_map=True),
    head=dict(in_channels=256),
)

pipeline = [dict(type='Resize', scale=image_side), dict(type='PackInputs')]
train_dataloader = dict(dataset=dict(pipeline=pipeline))
val_dataloader = dict(dataset=dict(pipeline=pipeline))
test_dataloader = dict(dataset=dict(pipeline=pipeline))
