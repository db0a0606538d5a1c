"""Time what ScaleNet's LoRA adds to each adapted linear of a training step, side by side.

For the four linears of one layer of an arch (qkv, proj, fc1, fc2) and the token count of a
batch, times a forward + backward of the plain linear, of the linear with the LoRA delta
folded into its weight (what ScaleNet does in training) and with the delta as a separate
low-rank branch, plus the fold alone and a plain copy of the weight; prints each as a ratio
to the plain linear next to the ratio of multiply-adds, and the fold's extra time per layer
instance and per training step. This is the part of a ScaleNet training step that a plain ViT
of the same depth does not do (``benchmarks/benchmark.py`` times the whole step).

Example::

    python benchmarks/lora_cost.py --arch deit-base --batch-size 8 --threads 2 \
        --out work_dirs/bench/lora_cost_deit-b_b8.json
"""
import argparse
import os.path as osp
import sys
from typing import Any, Dict, List, Optional

# Run as ``python benchmarks/lora_cost.py`` from a checkout: ``benchmarks`` (not installed) is
# imported from the repository root, the folder above this file.
ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from benchmarks.harness.cli import check_writable, print_and_save  # noqa: E402
from benchmarks.harness.models import parse_arch  # noqa: E402
from benchmarks.harness.timing import DTYPES  # noqa: E402


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--arch', default='deit-base',
                        help='mmpretrain ViT arch name or a JSON dict (default deit-base)')
    parser.add_argument('--batch-size', type=int, default=8)
    parser.add_argument('--img-size', type=int, default=224)
    parser.add_argument('--patch-size', type=int, default=16)
    parser.add_argument('--rank', type=int, default=10, help='LoRA rank (default 10)')
    parser.add_argument('--depth', type=float, default=2.0,
                        help='depth factor, for the per-step total (default 2.0)')
    parser.add_argument('--repeats', type=int, default=20, help='timed rounds (default 20)')
    parser.add_argument('--warmup', type=int, default=3, help='untimed rounds (default 3)')
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--dtype', default='fp32', choices=sorted(DTYPES))
    parser.add_argument('--threads', type=int, default=None, help='torch CPU threads')
    parser.add_argument('--out', help='write the result as JSON here')
    args = parser.parse_args(argv)
    for name in ('batch_size', 'img_size', 'patch_size', 'rank', 'repeats'):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1")
    if args.warmup < 0:
        parser.error('--warmup must be >= 0')
    if args.img_size % args.patch_size:
        parser.error(f'--img-size {args.img_size} is not a multiple of --patch-size '
                     f'{args.patch_size}')
    try:
        args.arch = parse_arch(args.arch)
    except ValueError as error:
        parser.error(str(error))
    if args.out:
        check_writable(parser, args.out)
    return args


def main(argv: Optional[List[str]] = None) -> Dict[str, Any]:
    args = parse_args(argv)
    import torch

    from benchmarks.harness.benchmark import machine_info
    from benchmarks.harness.lora_cost import format_lora_cost, measure_lora_cost
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        result = measure_lora_cost(
            args.arch, args.batch_size, img_size=args.img_size, patch_size=args.patch_size,
            rank=args.rank, depth=args.depth, repeats=args.repeats, warmup=args.warmup,
            device=args.device, dtype=args.dtype)
    except ValueError as error:
        sys.exit(f'error: {error}')
    result['machine'] = machine_info(torch.device(args.device))
    print_and_save(result, format_lora_cost(result), args.out)
    return result


if __name__ == '__main__':
    main()
