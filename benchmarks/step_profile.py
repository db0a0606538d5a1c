"""Where ScaleNet's training step spends the time a plain ViT of the same depth does not.

Profiles one forward + backward of ScaleNet and of timm's ViT of the same depth (after warm-up,
the models in turn, median of rounds), puts every ATen call's own CPU time into ``lora`` (the
fold and the gradients of A and B), ``weight_copy_add`` (the fold's copy of the weight, the
shared weight's gradient summed over its instances) or ``other``, and times the AdamW step
alone; prints them side by side with ScaleNet's difference as a share of the plain step. This is
what limits "ScaleNet no slower than timm" on a CPU (docs/performance.md).

Example::

    python benchmarks/step_profile.py --arch deit-small --batch-size 8 --threads 2 \
        --out work_dirs/bench/step_profile_deit-s_b8.json
"""
import argparse
import os.path as osp
import sys
from typing import Any, Dict, List, Optional

# Run as ``python benchmarks/step_profile.py`` from a checkout: ``benchmarks`` (not installed)
# is imported from the repository root, the folder above this file.
ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from benchmarks.harness.cli import check_writable, print_and_save  # noqa: E402
from benchmarks.harness.families import parse_arch  # noqa: E402


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--arch', default='deit-small', help='arch name or JSON dict')
    parser.add_argument('--depth', type=float, default=2.0, help='depth factor (default 2)')
    parser.add_argument('--batch-size', type=int, default=8)
    parser.add_argument('--img-size', type=int, default=224)
    parser.add_argument('--threads', type=int, default=2, help='torch CPU threads')
    parser.add_argument('--warmup', type=int, default=2, help='untimed rounds')
    parser.add_argument('--repeats', type=int, default=3, help='profiled rounds')
    parser.add_argument('--out', help='write the result as JSON here')
    args = parser.parse_args(argv)
    try:
        args.arch = parse_arch('vit', args.arch)
    except ValueError as error:
        parser.error(str(error))
    if args.repeats < 1 or args.warmup < 0 or args.batch_size < 1:
        parser.error('--repeats and --batch-size must be >= 1, --warmup >= 0')
    if args.out:
        check_writable(parser, args.out)
    return args


def main(argv: Optional[List[str]] = None) -> Dict[str, Any]:
    args = parse_args(argv)
    import torch

    from benchmarks.harness.benchmark import machine_info
    from benchmarks.harness.step_profile import format_step_profile, profile_step
    result = profile_step(args.arch, args.depth, args.batch_size, args.img_size, args.threads,
                          args.warmup, args.repeats)
    result['machine'] = machine_info(torch.device('cpu'))
    print_and_save(result, format_step_profile(result), args.out)
    return result


if __name__ == '__main__':
    main()
