"""Detection experiment, the grow stage (``--grow-epochs``): the seed's pretrained detection
backbone (``configs/cls/fashion_mnist/vit_det_pretrain_fmnist.py``) grown to ScaleNet 2x and
trained further *as a classifier*, before Mask R-CNN fine-tunes it.

This is the paper's order for downstream tasks: a ScaleNet backbone is grown and trained on
the classification data first (ImageNet there, E/3 epochs), and the trained ScaleNet model is
what a detector starts from. Without this stage, the detector's ScaleNet arm would start from
instances that run the pretrained blocks a second time on their own output, with untrained
adapters: a function that growth has broken and that the detection schedule must repair.

The L layers run as 2L instances (cyclic), rank-4 LoRA on qkv/proj/fc1/fc2 of every instance
(the rank is set by the experiment), backbone and head loaded from the base classifier; the
experiment sets the checkpoint, sizes, epochs and the attention layout (``--cfg-options``).
"""
_base_ = ['../../configs/cls/fashion_mnist/vit_det_pretrain_fmnist.py']

pretrained = None  # set by the experiment: the seed's published base classifier
model = dict(
    backbone=dict(
        depth=2.0,
        layer_map='cyclic',
        adapter=dict(_delete_=True, type='lora', rank=4, targets=('qkv', 'proj', 'fc1', 'fc2')),
        init_cfg=dict(type='Pretrained', checkpoint=pretrained, prefix='backbone.')),
    head=dict(init_cfg=dict(_delete_=True, type='Pretrained', checkpoint=pretrained,
                            prefix='head.')),
)
