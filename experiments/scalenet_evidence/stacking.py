"""Stacking-style growth without sharing: a plain 2L-layer checkpoint from an L-layer one.

The checkpoint of the "unshared copies" ablation is made with the project's own tools: the
pretrained classifier is loaded into a ScaleNet model with the cyclic map and no adapters (so
instance i runs pretrained layer i % L), and :func:`scalenet_mm.checkpoint.export_plain_classifier`
writes its unshared equivalent, where layers L..2L-1 are separate copies of layers 0..L-1.
The exported model computes exactly what the shared one computes; training then lets the
copies drift apart, which sharing forbids.
"""
from typing import Any, Dict, Optional

from mmengine.config import Config
from mmengine.registry import init_default_scope

from scalenet_mm.checkpoint import export_plain_classifier, save_atomic


def make_stacked_checkpoint(shared_config: str, cfg_options: Dict[str, Any], out_file: str,
                            meta: Optional[Dict[str, Any]] = None) -> str:
    """Write the unshared 2L-layer classifier equivalent to ``shared_config`` at step 0.

    Args:
        shared_config: a ScaleNet classifier config whose backbone and head ``init_cfg`` point
            at the pretrained checkpoint (e.g. ``experiments/configs/scalenet2x_shared_noadapter.py``).
        cfg_options: ``--cfg-options``-style overrides applied to it (sizes, checkpoint paths).
        out_file: where the checkpoint (``{'state_dict', 'meta'}``) is written.
        meta: extra values stored under ``meta``.

    Returns:
        ``out_file``.
    """
    from mmpretrain.registry import MODELS

    cfg = Config.fromfile(shared_config)
    cfg.merge_from_dict(cfg_options)
    init_default_scope(cfg.get('default_scope', 'mmpretrain'))
    model = MODELS.build(cfg.model)
    model.init_weights()  # loads the pretrained backbone (project loader) and head
    state_dict = export_plain_classifier(model)
    info = dict(meta or {})
    info['source_config'] = shared_config
    info['layer_map'] = [int(i) for i in model.backbone.layer_map]
    save_atomic(dict(state_dict=state_dict, meta=info), out_file)
    return out_file

