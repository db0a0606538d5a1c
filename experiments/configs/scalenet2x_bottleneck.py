"""Adapter study: ScaleNet with parallel bottleneck adapters (AdaptFormer style) beside the
attention and the MLP of every instance instead of LoRA. Width 16 on width-64 models gives
about the parameters of rank-4 LoRA on qkv/proj/fc1/fc2 (2 x (2 x 64 x 16 + 16 + 64) =
4,256 against 4,096 per instance), so the two kinds are compared at about the same size.
Not mergeable into the shared weights (it costs its FLOPs at inference). Otherwise as
``configs/cls/fashion_mnist/scalenet_2x_fmnist.py``."""
_base_ = '../../configs/cls/fashion_mnist/scalenet_2x_fmnist.py'

model = dict(backbone=dict(
    adapter=dict(_delete_=True, type='bottleneck', width=16, positions=('attn', 'ffn'))))
