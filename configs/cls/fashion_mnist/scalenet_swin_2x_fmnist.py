"""The Swin arm of the evidence experiment, step (b): the step-(a) Swin grown 2x with ScaleNet.

``swin_fmnist.py``'s two blocks per stage are kept once and run twice (cyclic map 0, 1, 0, 1
in each stage: instance i is shifted when i is odd, as its source block was), each of the
instances with its own rank-4 LoRA on qkv, proj, fc1 and fc2 (B zero-initialised, so training
starts from the function of the plain Swin whose stages hold the blocks twice). Backbone and
head start from step (a)'s weights, as ``scalenet_2x_fmnist.py`` does for the ViT:

* backbone: ``init_cfg=dict(type='Pretrained', ...)`` goes through
  ``scalenet_mm.checkpoint.load_pretrained``, which reads the classifier checkpoint's
  ``backbone.*`` tensors (mmpretrain Swin layout) into the shared blocks, the patch embedding,
  the patch merging and the output norm;
* head: mmengine's ``Pretrained`` init with ``prefix='head.'`` loads ``head.*`` into the head
  (same class and size as in step (a)).

``pretrained`` is the weights-only file that the evidence experiment publishes from its
``swin_pretrain`` run (``experiments/reproduce_scalenet.py`` sets both ``init_cfg``
checkpoints itself); to point at another file, override ``model.backbone.init_cfg.checkpoint``
and ``model.head.init_cfg.checkpoint``.

Batch: 1 process x 64 images (``1xb64``), lr 5e-4 (the evidence experiment sets its
``--growth-lr``, the same for the Swin and the ViT growth arms).
"""
_base_ = ['./swin_fmnist.py']
custom_imports = dict(imports=['scalenet_mm'], allow_failed_imports=False)

pretrained = 'work_dirs/evidence_swin/runs/swin_pretrain_seed0/published/swin.pth'
model = dict(
    backbone=dict(
        depth=2.0,
        layer_map='cyclic',
        # _delete_: replace the base config's adapter=None instead of merging into it.
        adapter=dict(_delete_=True, type='lora', rank=4, targets=('qkv', 'proj', 'fc1', 'fc2')),
        init_cfg=dict(type='Pretrained', checkpoint=pretrained, prefix='backbone.')),
    head=dict(init_cfg=dict(_delete_=True, type='Pretrained', checkpoint=pretrained,
                            prefix='head.')),
)

optim_wrapper = dict(optimizer=dict(lr=5e-4))
train_cfg = dict(max_epochs=3)
