"""ScaleNet Swin-S 2x on ImageNet-1K: stages run 4, 4, 36, 4 instances of Swin-S's 2, 2, 18, 2
pretrained blocks (cyclic map, rank-10 LoRA), from the official Swin-S weights, Swin recipe at
100 epochs. Batch 8 GPUs x 128 (``8xb128``); see ``scalenet_swin_t2x_in1k.py``."""
_base_ = ['./scalenet_swin_t2x_in1k.py']

pretrained = 'https://github.com/SwinTransformer/storage/releases/download/v1.0.0/swin_small_patch4_window7_224.pth'  # noqa: E501
model = dict(
    backbone=dict(arch='small', drop_path_rate=0.3,
                  init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
    head=dict(in_channels=768))
