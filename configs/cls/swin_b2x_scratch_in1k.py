"""Baseline of ``scalenet_swin_b2x_in1k.py``: a plain Swin of Swin-B widths at 4, 4, 36, 4
blocks trained from scratch, Swin recipe, 300 epochs, ``8xb128``."""
_base_ = ['./swin_t2x_scratch_in1k.py']

model = dict(
    backbone=dict(arch=dict(embed_dims=128, depths=[4, 4, 36, 4], num_heads=[4, 8, 16, 32]),
                  drop_path_rate=0.5),
    head=dict(in_channels=1024))
