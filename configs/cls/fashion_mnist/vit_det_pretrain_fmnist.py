"""The backbone of the Fashion-MNIST detection check, pretrained as a classifier at the
detection patch scale (``experiments/det_fashion_mnist.py``, step 0).

``vit_L4_fmnist.py`` (the L-layer plain ViT of the main job, its recipe and data) with the input
and patch of the detection backbone: every image is resized from 28 px to 40 px (bilinear, as
the detection set resizes its garments) and cut into 8 px patches, a 5x5 token grid. The
detection canvases (``scalenet_mm.testing.fashion_mnist_det``) show the same garments at 28 to
70 px through the same 8 px patches (4x4 to 9x9 tokens each), so the patch embedding and the
layers see objects at the scale they were trained on; 40 px lies near the middle of that range.
The detector resizes the class-token-free position embedding from 5x5 to its own grid
(``scalenet_mm.checkpoint.load_pretrained``).

The input side is one override: ``--cfg-options model.backbone.img_size=S
train_dataloader.dataset.pipeline.0.scale=S val_dataloader.dataset.pipeline.0.scale=S
test_dataloader.dataset.pipeline.0.scale=S`` (S a multiple of 8).

Batch: 1 process x 64 images (``1xb64``), lr 2e-3, as ``vit_L4_fmnist.py``.
"""
_base_ = ['./vit_L4_fmnist.py']
custom_imports = dict(imports=['scalenet_mm'], allow_failed_imports=False)

image_side = 40
model = dict(backbone=dict(img_size=image_side, patch_size=8))

pipeline = [dict(type='Resize', scale=image_side), dict(type='PackInputs')]
train_dataloader = dict(dataset=dict(pipeline=pipeline))
val_dataloader = dict(dataset=dict(pipeline=pipeline))
test_dataloader = dict(dataset=dict(pipeline=pipeline))
