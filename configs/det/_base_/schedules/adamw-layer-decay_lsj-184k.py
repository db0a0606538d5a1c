# ViTDet's optimisation recipe, written for 8 GPUs x 2 images = 16 images per iteration:
# AdamW (lr 1e-4, weight decay 0.1) with layer-wise lr decay over the backbone's layer
# instances, no weight decay on norms / biases / position embeddings / gates / rel-pos tables,
# 250-iteration linear warm-up, x0.1 steps at 88.9% and 96.3%, mixed precision.
# 184,375 iterations x 16 images = 25 COCO epochs (ViTDet runs the same iterations at 64).
_base_ = 'mmdet::_base_/default_runtime.py'

max_iters = 184375
interval = 5000

train_cfg = dict(
    type='IterBasedTrainLoop',
    max_iters=max_iters,
    val_interval=interval,
    dynamic_intervals=[(max_iters // interval * interval + 1, max_iters)])
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

optim_wrapper = dict(
    type='AmpOptimWrapper',  # needs a GPU; set type='OptimWrapper' to train on CPU
    constructor='LayerDecayOptimWrapperConstructor',
    # The top-level configs set layer_decay_rate from the number of layer instances.
    paramwise_cfg=dict(layer_decay_rate=0.7),
    optimizer=dict(type='AdamW', lr=1e-4, betas=(0.9, 0.999), weight_decay=0.1))

param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=250),
    dict(
        type='MultiStepLR',
        begin=0,
        end=max_iters,
        by_epoch=False,
        milestones=[163889, 177546],
        gamma=0.1)
]

default_hooks = dict(
    logger=dict(type='LoggerHook', interval=50),
    # scalenet_mm's kill-safe hook (atomic saves, exact resume), by its own name.
    checkpoint=dict(type='SafeCheckpointHook', by_epoch=False, interval=interval,
                    max_keep_ckpts=2))
log_processor = dict(by_epoch=False)

# Every parameter gets a gradient in every step (rel-pos tables, adapters and the shared
# tensors of all instances are used), so DDP does not need to search for unused ones.
find_unused_parameters = False

# Written for 16 images per iteration (8 GPUs x 2). With --auto-scale-lr the lr is scaled
# linearly to the actual total batch size.
auto_scale_lr = dict(enable=False, base_batch_size=16)

# Stop before the optimizer step when a loss term is NaN/inf (names the iteration and the
# term; the last checkpoint stays good). action='skip' drops such batches instead.
custom_hooks = [dict(type='NonFiniteLossHook', action='raise')]
