"""Ablation: ScaleNet's cyclic sharing without adapters (every use of a base layer is
identical). Everything else as ``configs/cls/fashion_mnist/scalenet_2x_fmnist.py``."""
_base_ = '../../configs/cls/fashion_mnist/scalenet_2x_fmnist.py'

model = dict(backbone=dict(adapter=None))
