"""Runtime defaults of the classification configs: mmpretrain's, with a bounded number of
kept checkpoints and the best top-1 checkpoint saved, so long ImageNet runs neither fill
the disk nor lose their best epoch. ``default_scope = 'mmpretrain'`` comes from the base."""
_base_ = ['mmpretrain::_base_/default_runtime.py']

# SafeCheckpointHook: scalenet_mm's kill-safe CheckpointHook (atomic saves, the pointer
# written before old checkpoints are deleted, exact resume), asked for by its own name.
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=100),
    checkpoint=dict(type='SafeCheckpointHook', interval=1, max_keep_ckpts=3, save_last=True,
                    save_best='auto'),
)

# Fixed seed: the paper's comparison (ScaleNet vs from-scratch) is between runs.
randomness = dict(seed=0, deterministic=False)

# Stop before the optimizer step when a loss term is NaN/inf (names the iteration and the
# term; the last checkpoint stays good). action='skip' drops such batches instead.
custom_hooks = [dict(type='NonFiniteLossHook', action='raise')]

# mmpretrain's visualizer, restated without the `_scope_` key that mmengine adds to every dict of
# an `mmpretrain::` base: mmpretrain's own tools/visualization/browse_dataset.py passes the dict's
# keys to UniversalVisualizer(...) and fails on `_scope_` (TypeError) otherwise.
visualizer = dict(_delete_=True, type='UniversalVisualizer',
                  vis_backends=[dict(type='LocalVisBackend')])
