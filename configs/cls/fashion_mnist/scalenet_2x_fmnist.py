"""Step (b) of the main job: the step-(a) ViT expanded 2x with ScaleNet, trained further.

The L pretrained layers are kept once and run twice (cyclic layer map 0..L-1, 0..L-1), each
of the 2L instances with its own rank-4 LoRA on qkv, proj, fc1 and fc2 (B zero-initialised).
Both the backbone and the classification head start from step (a)'s weights:

* backbone: ``init_cfg=dict(type='Pretrained', ...)`` goes through
  ``scalenet_mm.checkpoint.load_pretrained``, which reads the classifier checkpoint's
  ``backbone.*`` tensors (mmpretrain layout) into the shared layers and embeddings;
* head: mmengine's ``Pretrained`` init with ``prefix='head.'`` loads ``head.*`` into the
  head (same class and size as in step (a)), so training starts from a working classifier
  instead of a new head that would first have to relearn the 10 classes.

``pretrained`` is the weights-only file that ``tools/run_main_job.py`` publishes from step
(a) (tensors and plain meta only; it loads with ``torch.load(weights_only=True)``). To
point at another file, override both ``model.backbone.init_cfg.checkpoint`` and
``model.head.init_cfg.checkpoint``.

Batch: 1 process x 64 images (``1xb64``), lr 2e-3, step (a)'s peak with its half-epoch
warm-up and cosine: on all 60,000 images, where the base still underfits, every growth run
ended higher at 2e-3 than at a fine-tuning rate (5e-4 or 1e-3; docs/evidence.md, "Sizing").
"""
_base_ = ['./vit_L4_fmnist.py']
custom_imports = dict(imports=['scalenet_mm'], allow_failed_imports=False)

pretrained = 'work_dirs/quickstart/runs/pretrain_seed0/published/vit_L.pth'
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

train_cfg = dict(max_epochs=3)
