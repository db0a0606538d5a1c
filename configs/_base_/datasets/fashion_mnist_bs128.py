"""Fashion-MNIST (28x28 grayscale, 10 classes), 128 images per batch.

Data: the four uncompressed IDX files in ``data/fashion_mnist`` (mmpretrain's
``FashionMNIST``); ``python -m scalenet_mm.datasets.fashion_mnist data/fashion_mnist`` puts
them there from the Debian package ``dataset-fashion-mnist``. ``download=False``: a missing
copy is reported before training (scalenet_mm's preflight check) instead of being fetched.

Subsets for quick runs: ``train_dataloader.dataset.indices=N`` (the first N of the 60,000
training images), ``val_dataloader.dataset.indices=M`` (the first M of the 10,000 test
images, evaluated during training); ``test_dataloader`` always reads all 10,000.
"""
dataset_type = 'FashionMNIST'
data_root = 'data/fashion_mnist'
# One input channel; Fashion-MNIST pixel statistics (mean 0.286, std 0.353 on 0..1).
data_preprocessor = dict(num_classes=10, mean=[72.94], std=[90.02], to_rgb=False)

train_pipeline = [
    dict(type='RandomCrop', crop_size=28, padding=2),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]
test_pipeline = [dict(type='PackInputs')]

train_dataloader = dict(
    batch_size=128,
    num_workers=0,
    dataset=dict(type=dataset_type, data_root=data_root, split='train', download=False,
                 pipeline=train_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=True),
)
# mmpretrain's MNIST classes choose the file pair by ``test_mode``, not by ``split``: both
# are set, or the test loader would read the training images.
val_dataloader = dict(
    batch_size=256,
    num_workers=0,
    dataset=dict(type=dataset_type, data_root=data_root, split='test', test_mode=True,
                 download=False, pipeline=test_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=False),
)
val_evaluator = dict(type='Accuracy', topk=(1, ))
test_dataloader = dict(
    batch_size=256,
    num_workers=0,
    dataset=dict(type=dataset_type, data_root=data_root, split='test', test_mode=True,
                 download=False, pipeline=test_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=False),
)
test_evaluator = val_evaluator
