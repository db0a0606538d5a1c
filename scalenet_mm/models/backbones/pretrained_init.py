"""The ``init_weights`` order every ScaleNet backbone follows (ViT and Swin alike).

1. the backbone's own from-scratch init (``_init_scratch``);
2. ``init_cfg``'s entries other than ``Pretrained`` (mmengine's ``initialize``);
3. the last ``Pretrained`` entry through :func:`scalenet_mm.checkpoint.load_pretrained`, which
   knows the layouts (timm, DeiT, mmpretrain, mmdet, Microsoft Swin, ScaleNet) and refuses a
   checkpoint of another architecture instead of loading half of it;
4. per-instance copies (own norms) from their source blocks, except what step 3 loaded.

Written once so that a third backbone inherits the order instead of a third copy of it.
"""
from typing import Set

from mmengine.model.weight_init import initialize
from torch import nn


def init_shared_backbone(backbone: nn.Module, load_pretrained: bool = True) -> None:
    """Initialise ``backbone`` (a ScaleNet backbone with ``init_cfg``, ``_init_scratch`` and
    ``sync_instances_from_sources``) in the order above and set its ``is_init``.

    Args:
        backbone: the module; its ``init_cfg`` is a dict, a list of dicts or None.
        load_pretrained: False skips step 3 (the weights come from elsewhere, e.g.
            :func:`scalenet_mm.checkpoint.expand_checkpoint`).
    """
    cfgs = backbone.init_cfg if isinstance(backbone.init_cfg, list) else [backbone.init_cfg]
    others = [c for c in cfgs if c and c.get('type') != 'Pretrained']
    pretrained_cfgs = [c for c in cfgs if c and c.get('type') == 'Pretrained']
    backbone._init_scratch()
    if others:
        initialize(backbone, others)
    loaded: Set[str] = set()
    if pretrained_cfgs and load_pretrained:
        from ...checkpoint import load_pretrained as load_checkpoint
        pretrained = pretrained_cfgs[-1]
        report = load_checkpoint(backbone, pretrained['checkpoint'],
                                 prefix=pretrained.get('prefix'),
                                 map_location=pretrained.get('map_location', 'cpu'))
        loaded = set(report.loaded_keys)
    backbone.sync_instances_from_sources(skip_keys=loaded)
    backbone.is_init = True
