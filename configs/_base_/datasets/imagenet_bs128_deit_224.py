"""ImageNet-1K with the DeiT augmentation, 128 images per GPU (8 GPUs: total batch 1024).

The pipeline is mmpretrain's ``imagenet_bs64_swin_224`` (the DeiT recipe in mmpretrain):
RandomResizedCrop 224 (bicubic), flip, RandAugment (rand-m9-mstd0.5, 2 ops), random erasing
0.25; test: resize the short edge to 256 (bicubic), centre crop 224. Mixup 0.8 / CutMix 1.0
and label smoothing are model settings (``model.train_cfg.augments``, the head's loss).

Expected layout (mmpretrain's ``ImageNet``): ``data/imagenet/train/<wnid>/*.JPEG`` and
``data/imagenet/val/<wnid>/*.JPEG``, or ``val/*.JPEG`` with ``meta/val.txt``
(``<file> <label>`` lines). Point elsewhere with
``--cfg-options train_dataloader.dataset.data_root=... val_dataloader.dataset.data_root=...``.
"""
_base_ = ['mmpretrain::_base_/datasets/imagenet_bs64_swin_224.py']

train_dataloader = dict(batch_size=128, num_workers=8, persistent_workers=True)
val_dataloader = dict(batch_size=128, num_workers=8, persistent_workers=True)
test_dataloader = val_dataloader
