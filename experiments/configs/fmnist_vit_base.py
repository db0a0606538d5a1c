"""Evidence experiment, shared recipe: a small ViT on Fashion-MNIST (28x28 gray, patch 7:
4x4 tokens and a class token).

Every arm of ``experiments/reproduce_scalenet.py`` inherits this file and changes only the
backbone (depth, layer map, adapters, initialisation) and the number of epochs, so all
arms use the same data, augmentation, optimiser, warmup and cosine schedule. Sizes
(layers, width, epochs, training subset, seed) are ``--cfg-options`` keys:

    model.backbone.arch.{embed_dims,num_layers,num_heads,feedforward_channels}
    model.head.in_channels   train_cfg.max_epochs   train_dataloader.dataset.indices
    randomness.seed          {train,val,test}_dataloader.dataset.data_root

The test split is evaluated after every epoch (``val_interval=1``) so the accuracy curve of
every arm can be read from the scalar logs.
"""
_base_ = ['../../configs/_base_/datasets/fashion_mnist_bs128.py']
default_scope = 'mmpretrain'
custom_imports = dict(imports=['scalenet_mm'], allow_failed_imports=False)

# ------------------------------------------------------------------ model
model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='ScaleNetViT',
        arch=dict(embed_dims=64, num_layers=4, num_heads=4, feedforward_channels=256),
        depth=1.0,
        layer_map='cyclic',
        adapter=None,
        img_size=28,
        patch_size=7,
        in_channels=1,
        out_type='cls_token',
        drop_path_rate=0.0),
    neck=None,
    head=dict(
        type='LinearClsHead',
        num_classes=10,
        in_channels=64,
        loss=dict(type='LabelSmoothLoss', label_smooth_val=0.1, mode='original'),
        init_cfg=[dict(type='TruncNormal', layer='Linear', std=.02)]),
)

# ------------------------------------------------------------------ data
# The project's Fashion-MNIST settings (``fashion_mnist_bs128.py``: one channel, crop + flip
# augmentation, the test split); the first 10,000 training images, 64 per step, and the whole
# test split in batches of 500 after every epoch.
train_dataloader = dict(batch_size=64, dataset=dict(indices=10000))
val_dataloader = dict(batch_size=500)
test_dataloader = dict(batch_size=500)

# ------------------------------------------------------------------ schedule
optim_wrapper = dict(
    optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.05, betas=(0.9, 0.999)),
    paramwise_cfg=dict(norm_decay_mult=0.0, bias_decay_mult=0.0, flat_decay_mult=0.0,
                       custom_keys={'.cls_token': dict(decay_mult=0.0),
                                    '.pos_embed': dict(decay_mult=0.0)}),
    clip_grad=dict(max_norm=5.0),
)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=True, begin=0, end=1,
         convert_to_iter_based=True),
    # ``end`` defaults to train_cfg.max_epochs, so the cosine follows each arm's own length.
    dict(type='CosineAnnealingLR', eta_min=1e-5, by_epoch=True, begin=1,
         convert_to_iter_based=True),
]
train_cfg = dict(by_epoch=True, max_epochs=10, val_interval=1)
val_cfg = dict()
test_cfg = dict()

# ------------------------------------------------------------------ runtime
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=10),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='SafeCheckpointHook', interval=-1, save_last=True, max_keep_ckpts=1),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='VisualizationHook', enable=False),
)
env_cfg = dict(cudnn_benchmark=False, mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
               dist_cfg=dict(backend='gloo'))
vis_backends = [dict(type='LocalVisBackend')]
visualizer = dict(type='UniversalVisualizer', vis_backends=vis_backends)
log_level = 'INFO'
load_from = None
resume = False
randomness = dict(seed=0, deterministic=False)
