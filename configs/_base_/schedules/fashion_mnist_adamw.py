"""Optimisation of the small Fashion-MNIST ViTs: AdamW (lr 2e-3 for a batch of 64, weight
decay 0.05, none on norms, biases, class token and position embedding), gradient clipping,
a linear warm-up over the first half epoch, then cosine decay to 1e-5 over
``train_cfg.max_epochs``. Validation runs after every epoch."""
optim_wrapper = dict(
    optimizer=dict(type='AdamW', lr=2e-3, weight_decay=0.05, betas=(0.9, 0.999)),
    paramwise_cfg=dict(
        norm_decay_mult=0.0,
        bias_decay_mult=0.0,
        flat_decay_mult=0.0,
        custom_keys={
            '.cls_token': dict(decay_mult=0.0),
            '.pos_embed': dict(decay_mult=0.0),
        }),
    clip_grad=dict(max_norm=5.0),
)

param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=True, begin=0, end=0.5,
         convert_to_iter_based=True),
    # ``end`` defaults to ``train_cfg.max_epochs``, so the cosine follows the run's length.
    dict(type='CosineAnnealingLR', eta_min=1e-5, by_epoch=True, begin=0.5,
         convert_to_iter_based=True),
]

train_cfg = dict(by_epoch=True, max_epochs=4, val_interval=1)
val_cfg = dict()
test_cfg = dict()

auto_scale_lr = dict(base_batch_size=64)
