"""Get a model's FLOPs and parameters, as mmpretrain's ``tools/analysis_tools/get_flops.py``.

Same options (a config, ``--shape`` of one or two ints, ``--cfg-options`` as mmengine's
``DictAction``) and the same output (mmengine's per-module arch and table, then the
``Input shape`` / ``Flops`` / ``Params`` / ``Activation`` block and the warning lines), with two
corrections that matter for ScaleNet:

* ``Params`` counts a shared tensor once (a 2x ScaleNet has L blocks, not 2L);
* ``Flops`` counts every use of a shared block and the attention products of
  ``F.scaled_dot_product_attention`` (mmengine's counter gives that op zero, for any ViT).

As in mmpretrain, FLOPs are those of ``model.extract_feat`` (backbone and neck) and parameters
those of the whole model. ScaleNet models also get the shared / per-instance parameter split
and the FLOPs of every layer instance. Detection configs work too (mmdet scope).

Examples::

    python tools/analysis/get_flops.py configs/cls/scalenet_b2x_in1k.py
    python tools/analysis/get_flops.py configs/cls/scalenet_b2x_in1k.py --shape 384 \\
        --cfg-options model.backbone.img_size=384
    python tools/analysis/get_flops.py \\
        --backbone "dict(type='ScaleNetViT', arch='deit-base', depth=2.0)"
"""
import argparse
import ast
import json
import sys
import warnings
from typing import Any, Dict, List, Optional, Sequence, Tuple

import torch.nn as nn
from mmengine.config import Config, DictAction


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """mmpretrain's options (``config``, ``--shape``) plus ``--cfg-options`` and ours."""
    parser = argparse.ArgumentParser(description='Get model flops and params')
    parser.add_argument('config', nargs='?', help='config file path')
    parser.add_argument('--shape', type=int, nargs='+', default=[224, 224],
                        help='input image size')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override some settings in the used config, the key-value pair in xxx=yyy format '
        'will be merged into config file. If the value to be overwritten is a list, it should '
        'be like key="[a,b]" or key=a,b It also allows nested list/tuple values, e.g. '
        'key="[(a,b),(c,d)]" Note that the quotation marks are necessary and that no white '
        'space is allowed.')
    parser.add_argument('--backbone', help="count a backbone instead of a config, e.g. "
                        "\"dict(type='ScaleNetViT', arch='deit-base', depth=2.0)\"")
    parser.add_argument('--no-instances', action='store_true',
                        help='do not list the FLOPs of every ScaleNet layer instance')
    parser.add_argument('--out', help='also write the figures as JSON here')
    args = parser.parse_args(argv)
    if bool(args.config) == bool(args.backbone):
        parser.error('give either a config file or --backbone')
    if args.backbone and args.cfg_options:
        parser.error('--cfg-options applies to a config file, not to --backbone')
    try:
        args.input_shape = input_shape(args.shape)
    except ValueError as error:
        parser.error(str(error))
    return args


def input_shape(shape: Sequence[int]) -> Tuple[int, int, int]:
    """mmpretrain's rule: ``[S]`` -> ``(3, S, S)``, ``[H, W]`` -> ``(3, H, W)``."""
    if len(shape) == 1:
        return 3, shape[0], shape[0]
    if len(shape) == 2:
        return 3, shape[0], shape[1]
    raise ValueError(f'--shape {" ".join(map(str, shape))} is invalid: give one size (S) or two '
                     f'(H W)')


def literal_dict(text: str) -> Dict[str, Any]:
    """Parse ``dict(a=1, ...)`` or ``{'a': 1}`` without evaluating arbitrary code."""
    try:
        tree = ast.parse(text.strip(), mode='eval').body
        if isinstance(tree, ast.Call) and getattr(tree.func, 'id', None) == 'dict' \
                and not tree.args:
            return {kw.arg: ast.literal_eval(kw.value) for kw in tree.keywords}
        value = ast.literal_eval(text)
    except (SyntaxError, ValueError) as error:
        raise ValueError(f'--backbone {text!r} is not a literal dict ({error}); write it as '
                         f"\"dict(type='ScaleNetViT', arch='deit-base', depth=2.0)\"") from error
    if not isinstance(value, dict):
        raise ValueError(f'--backbone must be a dict, got {text!r}')
    return value


def build_from_config(path: str, cfg_options: Optional[Dict[str, Any]] = None) -> nn.Module:
    """``cfg.model`` of an mmpretrain or mmdet config in its ``default_scope``, in eval mode and
    without pretrained weights (the backbone's ``init_cfg`` is dropped: nothing is downloaded)."""
    from mmengine.registry import init_default_scope

    import scalenet_mm  # noqa: F401  (registers the project's modules)
    cfg = Config.fromfile(path)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    scope = cfg.get('default_scope', 'mmpretrain')
    init_default_scope(scope)
    if scope == 'mmdet':
        from mmdet.registry import MODELS
    else:
        from mmpretrain.registry import MODELS
    if isinstance(cfg.model.get('backbone'), dict):
        cfg.model.backbone.pop('init_cfg', None)
    return MODELS.build(cfg.model).eval()


def build_backbone(spec: Dict[str, Any]) -> nn.Module:
    """A backbone from a registry dict such as ``dict(type='ScaleNetViT', arch=...)``."""
    import scalenet_mm  # noqa: F401
    from mmpretrain.registry import MODELS
    return MODELS.build(dict(spec)).eval()


def format_size(value: int) -> str:
    """mmengine's figure format (``35.1G``), the one mmpretrain's tool prints."""
    # mmengine exports no public formatter; this private one is what mmpretrain's and mmdet's
    # tools use. tests/analysis/test_get_flops.py fails if it disappears or changes format.
    from mmengine.analysis.print_helper import _format_size
    return _format_size(value)


def format_result(result: Dict[str, Any], show_instances: bool = True) -> str:
    """mmpretrain's output block for ``result`` (from :func:`analyze`), then ScaleNet's extras."""
    split_line = '=' * 30
    lines = [result.get('arch', ''), result.get('table', ''),
             f'{split_line}\nInput shape: {tuple(result["input_shape"])}\n'
             f'Flops: {format_size(result["flops"])}\nParams: {format_size(result["params"])}\n'
             f'Activation: {format_size(result["activations"])}\n{split_line}']
    counted = ('the backbone network (and neck)' if result['forward'] == 'extract_feat'
               else 'the given module')
    lines.append(f'!!!Only {counted} is counted in FLOPs analysis.')
    lines.append('!!!Please be cautious if you use the results in papers. You may need to check '
                 'if all ops are supported and verify that the flops computation is correct.')
    lines.append(f'!!!Params count a shared tensor once ({format_size(result["params"])}; every '
                 f'registration counted: {format_size(result["param_registrations"])}); Flops '
                 f'count every use of a shared block and scaled_dot_product_attention.')
    if 'params_split' in result:
        split = result['params_split']
        lines.append(f'ScaleNet params: shared {format_size(split["shared"])}, per-instance '
                     f'{format_size(split["per_instance"])}, other {format_size(split["other"])}')
        lines.append(f'LoRA merge (once per training step, cached in eval): '
                     f'{format_size(result["lora_merge_flops"])} Flops')
    if show_instances and result.get('flops_per_instance'):
        lines.append('Flops per layer instance:')
        lines += [f'  {row["call"]:<40} {format_size(row["flops"])}'
                  for row in result['flops_per_instance']]
    return '\n'.join(line for line in lines if line)


def main(argv: Optional[List[str]] = None) -> Dict[str, Any]:
    """Count, print mmpretrain's block, write ``--out``; returns the figures."""
    args = parse_args(argv)
    warnings.filterwarnings('ignore')
    from mmengine.logging import MMLogger

    from scalenet_mm.utils.complexity import analyze
    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel('WARNING')  # init_weights reports every tensor at INFO
    try:
        if args.config:
            model = build_from_config(args.config, args.cfg_options)
        else:
            try:
                model = build_backbone(literal_dict(args.backbone))
            except ValueError as error:
                sys.exit(f'error: {error}')
    finally:
        logger.setLevel(level)
    result = analyze(model, args.input_shape, per_instance=not args.no_instances, tables=True)
    print(format_result(result, show_instances=not args.no_instances))
    if args.out:
        from scalenet_mm.engine.atomic_checkpoint import atomic_write
        figures = {k: v for k, v in result.items() if k not in ('table', 'arch')}
        atomic_write(args.out, json.dumps(figures, indent=1))
    return result


if __name__ == '__main__':
    main()
