"""Parameters and FLOPs of a model config or a backbone, counting shared tensors once.

Unique parameters count a tensor used by several layer instances once (``registrations`` is
what naive counting says); FLOPs count every use (mmengine's FlopAnalyzer convention: one
multiply-add = one FLOP, plus scaled_dot_product_attention). ScaleNet backbones also get the
shared / per-instance parameter split and the FLOPs of each layer instance.

Examples::

    python tools/analysis/get_flops.py configs/cls/scalenet_deit-base-2x_in1k.py
    python tools/analysis/get_flops.py \
        --backbone "dict(type='ScaleNetViT', arch='deit-base', depth=2.0)"
    python tools/analysis/get_flops.py --backbone "dict(type='VisionTransformer', arch='deit-base')"
"""
import argparse
import json
import sys
import warnings
from typing import List, Optional


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('config', nargs='?', help='an mmpretrain or mmdet config file')
    parser.add_argument('--backbone', help="a backbone dict, e.g. \"dict(type='ScaleNetViT', "
                                           "arch='deit-base', depth=2.0)\"")
    parser.add_argument('--shape', type=int, nargs='+', default=[224],
                        help='input size: S, H W or C H W (default 224)')
    parser.add_argument('--cfg-options', nargs='+', default=None,
                        help='key=value overrides of the config (JSON values)')
    parser.add_argument('--no-instances', action='store_true',
                        help='do not list the FLOPs of every layer instance')
    parser.add_argument('--out', help='write the result as JSON here')
    args = parser.parse_args(argv)
    if bool(args.config) == bool(args.backbone):
        parser.error('give either a config file or --backbone')
    return args


def _literal_dict(text: str) -> dict:
    """Parse ``dict(a=1, ...)`` or a JSON object without evaluating arbitrary code."""
    import ast
    tree = ast.parse(text.strip(), mode='eval').body
    if isinstance(tree, ast.Call) and getattr(tree.func, 'id', None) == 'dict' and not tree.args:
        return {kw.arg: ast.literal_eval(kw.value) for kw in tree.keywords}
    value = ast.literal_eval(text)
    if not isinstance(value, dict):
        raise ValueError(f'--backbone must be a dict, got {text!r}')
    return value


def main(argv: Optional[List[str]] = None) -> dict:
    args = parse_args(argv)
    warnings.filterwarnings('ignore')
    from scalenet_mm.analysis.complexity import (analyze, build_backbone, build_from_config,
                                                 format_report, parse_shape)
    from scalenet_mm.analysis.models import quiet_mmengine
    with quiet_mmengine():
        if args.config:
            options = None
            if args.cfg_options:
                options = {}
                for item in args.cfg_options:
                    key, _, value = item.partition('=')
                    try:
                        options[key] = json.loads(value)
                    except json.JSONDecodeError:
                        options[key] = value
            model = build_from_config(args.config, options)
        else:
            model = build_backbone(_literal_dict(args.backbone))
    result = analyze(model, parse_shape(args.shape), per_instance=not args.no_instances)
    print(format_report(result, show_instances=not args.no_instances))
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(result, f, indent=1)
    return result


if __name__ == '__main__':
    sys.exit(main() is None)
