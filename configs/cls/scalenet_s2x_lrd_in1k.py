"""ScaleNet DeiT-Small 2x with layer-wise learning-rate decay (a variant of
``scalenet_s2x_in1k.py``; no number from the paper exists for it).

mmpretrain's ``LearningRateDecayOptimWrapperConstructor`` gives a parameter at depth d of
D = 26 levels (embeddings 0, instances 1..24, head 25) the lr ``lr * rate ** (D - 1 - d)``;
it asks ``ScaleNetViT.get_layer_depth``, which gives each shared tensor the depth of its
first use (its original layer) and each instance's adapters the depth of that instance.
With the cyclic map the 12 pretrained blocks therefore train at the slower rates of layers
1..12, while the LoRA adapters of the inserted instances 13..24 keep nearly the full lr.

Batch: 8 GPUs x 128 images = 1024 (``8xb128``), lr 1e-3 at the head:
``bash tools/dist_train.sh configs/cls/scalenet_s2x_lrd_in1k.py 8``.
"""
_base_ = ['./scalenet_s2x_in1k.py']
custom_imports = dict(imports=['scalenet_mm'], allow_failed_imports=False)

optim_wrapper = dict(
    constructor='LearningRateDecayOptimWrapperConstructor',
    paramwise_cfg=dict(layer_decay_rate=0.9),
)
