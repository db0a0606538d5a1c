"""The Swin arms of the detection check: a small Swin Mask R-CNN and its ScaleNet 2x.

Two arms, run only when named (``experiments/det_fashion_mnist.py --arms swin
scalenet_swin_2x``; not in the default list, so the ViT experiment and its budget are
unchanged):

- ``swin`` (e): a plain Swin of four stages, 2 blocks each (a ``ScaleNetSwin`` with
  ``depth=1.0`` and no adapter, exactly a plain Swin), pretrained;
- ``scalenet_swin_2x`` (f): the same blocks run as 4 instances per stage (cyclic map, LoRA of
  rank ``lora_rank`` per instance), pretrained.

Both are children of ``configs/det/mask_rcnn_scalenet_swin_t2x.py`` written by the one writer of
reduced configs (``ReducedDetSizes(backbone='swin')``: the shipped Swin Mask R-CNN, its FPN
over the four stages, mmdet's AdamW with its ``custom_keys``, the schedule made
iteration-based), with the data, iterations, batch, image, pipeline, lr and weight decay of the
ViT arms (no layer-wise decay: the Swin configs' optimizer has none). Their backbone is
pretrained, per seed, as a Fashion-MNIST classifier at the detection scale:
``configs/cls/fashion_mnist/swin_det_pretrain_fmnist.py``, whose backbone sizes (widths, blocks
and heads per stage, patch, window) are read from that file, so the detector's backbone is the
classifier's and ``scalenet_mm.checkpoint.load_pretrained`` loads every block.

The ViT sizes of :class:`DetSettings` (``layers``, ``embed_dims``, ``num_heads``,
``feedforward_channels``, ``patch``, ``window``, ``layer_decay``) do not apply to these arms,
and a change of them does not make a Swin run stale.
"""
import os.path as osp
from functools import lru_cache
from typing import Any, Dict, Optional, Tuple

#: The Swin classifier pretrained for the detection arms (its backbone sizes are theirs).
SWIN_PRETRAIN_CONFIG = osp.join(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))),
                                'configs', 'cls', 'fashion_mnist', 'swin_det_pretrain_fmnist.py')
#: The shipped config both Swin arms' reduced configs inherit.
SWIN_BASE_CONFIG = osp.join('configs', 'det', 'mask_rcnn_scalenet_swin_t2x.py')
#: What the Swin pretraining depends on.
SWIN_PRETRAIN_KEYS = ('pretrain_side', 'pretrain_epochs', 'pretrain_size', 'pretrain_lr')
#: The :class:`DetSettings` fields that size the ViT arms only.
VIT_ONLY_KEYS = ('layers', 'embed_dims', 'num_heads', 'feedforward_channels', 'patch', 'window',
                 'layer_decay', 'pretrain_readout', 'pos_embed_transfer')
#: The weights-only file the Swin pretraining publishes (under ``<run>/published/``).
PUBLISHED_NAME = 'swin.pth'


def swin_pretrain_name(seed: int) -> str:
    return f'swin_pretrain_seed{seed}'


@lru_cache(maxsize=None)
def backbone_sizes(config: str = SWIN_PRETRAIN_CONFIG) -> Dict[str, Any]:
    """``embed_dims``, ``depths``, ``num_heads``, ``patch_size``, ``window_size`` of the Swin
    classifier's backbone."""
    from mmengine.config import Config
    backbone = Config.fromfile(config).model.backbone
    arch = backbone.arch
    return dict(embed_dims=int(arch['embed_dims']), depths=tuple(int(d) for d in arch['depths']),
                num_heads=tuple(int(h) for h in arch['num_heads']),
                patch_size=int(backbone.patch_size), window_size=int(backbone.window_size))


def detection_keys(settings: Any) -> Tuple[str, ...]:
    """The settings a Swin detection run depends on (every one but the ViT sizes and seeds)."""
    from dataclasses import fields
    return tuple(f.name for f in fields(settings)
                 if f.name not in VIT_ONLY_KEYS and f.name != 'seeds')


def pretrain_options(settings: Any, seed: int, data_root: str) -> Dict[str, Any]:
    """``--cfg-options`` of a seed's Swin classifier pretraining (its sizes are the config's)."""
    side = settings.pretrain_side
    options: Dict[str, Any] = {
        'model.backbone.img_size': side,
        'train_cfg.max_epochs': settings.pretrain_epochs,
        'optim_wrapper.optimizer.lr': settings.pretrain_lr,
        'randomness.seed': seed,
        'train_dataloader.dataset.indices': settings.pretrain_size or None,
        'val_dataloader.dataset.indices': 1000,
    }
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        options[f'{loader}.dataset.data_root'] = data_root
        options[f'{loader}.dataset.pipeline.0.scale'] = side
    return options


def det_sizes(settings: Any, arm: Any, seed: int, pretrained: Optional[str],
              common: Dict[str, Any]):
    """The ``ReducedDetSizes`` of a Swin arm's run: the classifier's backbone, ``common``
    (the schedule, data and heads every arm shares) for the rest."""
    from scalenet_mm.testing import ReducedDetSizes

    sizes = backbone_sizes()
    values = dict(common)
    values.update(backbone='swin', dims=sizes['embed_dims'], swin_depths=sizes['depths'],
                  swin_heads=sizes['num_heads'], patch=sizes['patch_size'],
                  window=sizes['window_size'], layer_decay=None, scale_factors=None,
                  pretrained=pretrained)
    return ReducedDetSizes(**values)


def config_extra(settings: Any, arm: Any) -> str:
    """Lines appended to a Swin arm's reduced config: the plain arm runs every block once
    without adapters (the shipped ``ScaleNetSwin`` is 2x with LoRA)."""
    if arm.instances == 'L':
        return "model['backbone'].update(depth=1.0, adapter=None)\n"
    return ''
