"""Baseline of ``scalenet_swin_s2x_in1k.py``: a plain Swin of Swin-S widths at 4, 4, 36, 4
blocks trained from scratch, Swin recipe, 300 epochs, ``8xb128``."""
_base_ = ['./swin_t2x_scratch_in1k.py']

model = dict(
    backbone=dict(arch=dict(embed_dims=96, depths=[4, 4, 36, 4], num_heads=[3, 6, 12, 24]),
                  drop_path_rate=0.3),
    head=dict(in_channels=768))
