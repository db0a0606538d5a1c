"""The deep model from scratch: the plain ViT of ``vit_L4_fmnist.py`` with 2L = 8 layers.

The comparison ScaleNet has to win in the paper's protocol: the same depth as the ScaleNet
2x model, every layer its own tensors, no pretraining, trained the full schedule of the base
model (``experiments/reproduce_scalenet.py`` arm ``scratch``; ``tools/run_main_job.py
--scratch``). Everything else (data, recipe, head) is ``vit_L4_fmnist.py``'s.

Batch: 1 process x 64 images (``1xb64``), lr 2e-3.
"""
_base_ = ['./vit_L4_fmnist.py']
custom_imports = dict(imports=['scalenet_mm'], allow_failed_imports=False)

model = dict(backbone=dict(arch=dict(num_layers=8)))
