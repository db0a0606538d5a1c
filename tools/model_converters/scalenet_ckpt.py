#!/usr/bin/env python
"""Checkpoint tools of scalenet_mm: convert, expand, export, publish.

    # official DeiT / timm  <->  mmpretrain classifier keys
    python tools/model_converters/scalenet_ckpt.py convert deit_tiny_patch16_224-a1311bcf.pth \\
        deit_tiny_mmpretrain.pth --to mmpretrain
    # base checkpoint -> ScaleNet checkpoint of a config (shared layers once, adapters at init)
    python tools/model_converters/scalenet_ckpt.py expand configs/cls/scalenet_t2x_in1k.py \\
        deit_tiny_patch16_224-a1311bcf.pth scalenet_t2x_init.pth
    # the same for Swin (mmpretrain / mmdet, timm or Microsoft's release layout, detected)
    python tools/model_converters/scalenet_ckpt.py expand configs/cls/scalenet_swin_t2x_in1k.py \\
        swin_tiny_patch4_window7_224.pth scalenet_swin_t2x_init.pth
    # trained ScaleNet -> plain L'-layer ViT (LoRA and gates merged) for stock mmpretrain / timm
    python tools/model_converters/scalenet_ckpt.py export configs/cls/scalenet_t2x_in1k.py \\
        work_dirs/scalenet_t2x_in1k/epoch_100.pth deit_t24_plain.pth --layout timm --trust-pickle
    # drop training state, keep weights + plain meta, add the sha256 prefix to the name
    python tools/model_converters/scalenet_ckpt.py publish epoch_100.pth scalenet_t2x_in1k.pth \\
        --trust-pickle

Inputs are read with ``torch.load(weights_only=True)``; ``--trust-pickle`` allows full
unpickling for files you produced yourself (Runner checkpoints hold optimizer state and
mmengine objects). Every output is written atomically and loads with ``weights_only=True``.
"""
import argparse
import os.path as osp
import sys
from typing import Any, Dict, List, Optional

import torch


def _load(path: str, trust_pickle: bool) -> Any:
    from scalenet_mm.checkpoint import load_local_checkpoint
    return load_local_checkpoint(path, 'cpu', allow_pickle=trust_pickle)


def _plain_meta(checkpoint: Any) -> Dict[str, Any]:
    from scalenet_mm.checkpoint.files import to_plain
    meta = checkpoint.get('meta') if isinstance(checkpoint, dict) else None
    return to_plain(dict(meta)) if isinstance(meta, dict) else {}


def _build_model(config: str, cfg_options: Optional[Dict[str, Any]]) -> torch.nn.Module:
    """Build the ``model`` of a config in its default scope, without loading any weights."""
    from mmengine.config import Config
    from mmengine.registry import MODELS, init_default_scope
    cfg = Config.fromfile(config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    init_default_scope(cfg.get('default_scope', 'mmpretrain'))
    return MODELS.build(cfg.model)


def cmd_convert(args: argparse.Namespace) -> str:
    """timm / official DeiT <-> mmpretrain classifier (or backbone) keys."""
    from scalenet_mm.checkpoint import (classifier_mmpretrain_to_timm,
                                        classifier_timm_to_mmpretrain, detect_classifier_layout,
                                        save_atomic, unwrap_state_dict)
    from scalenet_mm.checkpoint.formats import layout_family
    checkpoint = _load(args.src, args.trust_pickle)
    state_dict = unwrap_state_dict(checkpoint, args.src)
    layout = detect_classifier_layout(state_dict, args.src)
    if layout_family(layout) == 'swin':
        raise SystemExit(f'{args.src} is a Swin checkpoint ({layout}): "convert" rewrites ViT '
                         f'layouts only. ScaleNetSwin loads every Swin layout as it is (detected '
                         f'from the keys); use "expand" for a ScaleNet checkpoint, "export" for '
                         f'a plain mmpretrain / timm Swin. Nothing was written.')
    if layout == 'scalenet':
        raise SystemExit(f'{args.src} is a ScaleNet checkpoint (instances.* keys): it has no '
                         f'plain-ViT equivalent without merging; use the "export" command')
    if layout == args.to:
        raise SystemExit(f'{args.src} is already in the {layout} layout')
    meta = _plain_meta(checkpoint)
    meta['converted_from'] = layout
    if args.to == 'mmpretrain':
        converted, leftover = classifier_timm_to_mmpretrain(state_dict)
        payload: Dict[str, Any] = {'state_dict': converted, 'meta': meta}
    else:
        if not any(k.startswith('backbone.') for k in state_dict):
            state_dict = {f'backbone.{k}': v for k, v in state_dict.items()}
        converted, leftover = classifier_mmpretrain_to_timm(state_dict)
        payload = {'model': converted, 'meta': meta}
    if leftover:
        raise SystemExit(f'cannot convert {args.src} to the {args.to} layout: no place for '
                         f'{leftover}. Nothing was written.')
    out = save_atomic(payload, args.dst)
    print(f'{args.src} ({layout}) -> {out} ({args.to}, {len(converted)} tensors)')
    return out


def cmd_expand(args: argparse.Namespace) -> str:
    """Base checkpoint + ScaleNet config -> ScaleNet checkpoint (model state dict)."""
    from scalenet_mm.checkpoint import expand_checkpoint, save_atomic
    model = _build_model(args.config, args.cfg_options)
    base = _load(args.base, args.trust_pickle)
    state_dict, report = expand_checkpoint(base, model)
    meta = dict(expanded_from=osp.basename(args.base), config=osp.basename(args.config),
                base_layout=report.source_format, notes=list(report.notes))
    out = save_atomic({'state_dict': state_dict, 'meta': meta}, args.dst)
    print(f'{args.base} + {args.config} -> {out} ({len(state_dict)} tensors)')
    return out


def cmd_export(args: argparse.Namespace) -> str:
    """Trained ScaleNet checkpoint + its config -> plain ViT (or Swin) checkpoint."""
    from scalenet_mm.checkpoint import (export_plain_classifier, export_plain_state_dict,
                                        plain_backbone_config, save_atomic, unwrap_state_dict)
    from scalenet_mm.checkpoint.export import _scalenet_backbone, _swin_backbone
    model = _build_model(args.config, args.cfg_options)
    checkpoint = _load(args.checkpoint, args.trust_pickle)
    state_dict = unwrap_state_dict(checkpoint, args.checkpoint)
    if not any(k.startswith('backbone.') for k in state_dict) and hasattr(model, 'backbone'):
        target = model.backbone
    else:
        target = model
    result = target.load_state_dict(state_dict, strict=False)
    if result.missing_keys or result.unexpected_keys:
        raise SystemExit(f'{args.checkpoint} does not match {args.config}: missing '
                         f'{result.missing_keys[:10]}, unexpected {result.unexpected_keys[:10]}. '
                         f'Export needs the config the checkpoint was trained with.')
    model.eval()
    backbone = _swin_backbone(model)
    if backbone is None:
        backbone = _scalenet_backbone(model)
    if args.backbone_only or target is not model:
        weights = export_plain_state_dict(backbone, args.layout)
    else:
        weights = export_plain_classifier(model, args.layout)
    meta = _plain_meta(checkpoint)
    meta.update(exported_from=osp.basename(args.checkpoint), layout=args.layout,
                plain_backbone=plain_backbone_config(backbone))
    container = 'model' if args.layout == 'timm' else 'state_dict'
    out = save_atomic({container: weights, 'meta': meta}, args.dst)
    family = (f'plain Swin, {backbone.depths} blocks per stage' if hasattr(backbone, 'depths')
              else f'plain ViT, {backbone.depth} layers')
    print(f'{args.checkpoint} -> {out} ({family}, {args.layout} layout, {len(weights)} tensors)')
    return out


def cmd_publish(args: argparse.Namespace) -> str:
    """Weights + plain meta only, sha256 prefix in the name."""
    from scalenet_mm.checkpoint import publish_checkpoint
    out = publish_checkpoint(args.src, args.dst, allow_pickle=args.trust_pickle)
    print(out)
    return out


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    from mmengine.config import DictAction
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest='command', required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument('--trust-pickle', action='store_true',
                       help='fully unpickle the input (only for files you produced yourself, '
                            'e.g. Runner checkpoints with optimizer state)')

    p = sub.add_parser('convert', help='timm / official DeiT <-> mmpretrain keys')
    p.add_argument('src')
    p.add_argument('dst')
    p.add_argument('--to', choices=('mmpretrain', 'timm'), required=True)
    common(p)
    p.set_defaults(func=cmd_convert)

    p = sub.add_parser('expand', help='base checkpoint -> ScaleNet checkpoint of a config')
    p.add_argument('config')
    p.add_argument('base')
    p.add_argument('dst')
    p.add_argument('--cfg-options', nargs='+', action=DictAction)
    common(p)
    p.set_defaults(func=cmd_expand)

    p = sub.add_parser('export', help='trained ScaleNet -> plain ViT / Swin (LoRA, gates merged)')
    p.add_argument('config')
    p.add_argument('checkpoint')
    p.add_argument('dst')
    p.add_argument('--layout', choices=('mmpretrain', 'timm'), default='mmpretrain')
    p.add_argument('--backbone-only', action='store_true',
                   help='write only the backbone (no "backbone." prefix, no head)')
    p.add_argument('--cfg-options', nargs='+', action=DictAction)
    common(p)
    p.set_defaults(func=cmd_export)

    p = sub.add_parser('publish', help='weights + plain meta, sha256 prefix in the name')
    p.add_argument('src')
    p.add_argument('dst')
    common(p)
    p.set_defaults(func=cmd_publish)
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> str:
    args = parse_args(argv)
    import scalenet_mm  # noqa: F401  (registers the modules, schemes and scalenet_mm::)
    return args.func(args)


if __name__ == '__main__':
    sys.exit(0 if main() else 1)
