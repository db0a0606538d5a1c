"""The DeiT optimisation recipe for a total batch of 1024 (e.g. 8 GPUs x 128).

AdamW, lr = 5e-4 * batch / 512 = 1e-3, weight decay 0.05 (none on norms, biases, class
token and position embedding), gradient clipping at norm 5, 5 warm-up epochs then cosine
decay to 1e-5, 300 epochs (configs change ``train_cfg.max_epochs``; the cosine follows).
``--auto-scale-lr`` rescales the lr for another total batch (``auto_scale_lr``).
"""
_base_ = ['mmpretrain::_base_/schedules/imagenet_bs1024_adamw_swin.py']

optim_wrapper = dict(
    optimizer=dict(type='AdamW', lr=5e-4 * 1024 / 512, weight_decay=0.05, eps=1e-8,
                   betas=(0.9, 0.999)),
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
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, begin=0, end=5,
         convert_to_iter_based=True),
    # ``end`` defaults to ``train_cfg.max_epochs``.
    dict(type='CosineAnnealingLR', eta_min=1e-5, by_epoch=True, begin=5,
         convert_to_iter_based=True),
]

train_cfg = dict(by_epoch=True, max_epochs=300, val_interval=1)
val_cfg = dict()
test_cfg = dict()

auto_scale_lr = dict(base_batch_size=1024)
