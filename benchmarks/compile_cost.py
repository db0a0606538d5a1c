"""Time ScaleNet's training step eager and compiled, in fp32 and bf16, beside timm's and
mmpretrain's ViTs of the same depth, every variant in its own worker process, in one
interleaved run.

Prints each variant's median step and the first (compiling) step, then the ratios that decide
issue 19's targets: ScaleNet / timm of the same depth in each mode and dtype (median of the
steps and median and range of the round-by-round ratios), and compiled / eager per model.

Examples::

    # CPU: DeiT-S 2x, batch 8, eager and compiled fp32, ScaleNet vs timm
    python benchmarks/compile_cost.py --arch deit-small --batch-size 8 --threads 2 \\
        --keep-memory --out work_dirs/bench/compile_deit-s_b8.json
    # GPU: DeiT-B 2x, batch 64, bf16, compiled only, against timm and mmpretrain
    python benchmarks/compile_cost.py --arch deit-base --batch-size 64 --device cuda \\
        --dtypes bf16 --modes compiled --models scalenet timm mmpretrain
"""
import argparse
import os.path as osp
import sys
from typing import Any, Dict, List, Optional

# Run as ``python benchmarks/compile_cost.py`` from a checkout: ``benchmarks`` (not installed)
# is imported from the repository root, the folder above this file.
ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from benchmarks.harness.cli import check_writable, print_and_save  # noqa: E402
from benchmarks.harness.compile_cost import (COMPARED_MODELS, MODES,  # noqa: E402
                                             CompileCostConfig)
from benchmarks.harness.families import parse_arch  # noqa: E402
from benchmarks.harness.timing import DTYPES  # noqa: E402


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--arch', default='deit-small', help='arch name or JSON dict')
    parser.add_argument('--depth', type=float, default=2.0, help='depth factor (default 2)')
    parser.add_argument('--batch-size', type=int, default=8)
    parser.add_argument('--img-size', type=int, default=224)
    parser.add_argument('--num-classes', type=int, default=1000)
    parser.add_argument('--device', default='cpu', help="'cpu' or 'cuda[:N]'")
    parser.add_argument('--models', nargs='+', default=['scalenet', 'timm'],
                        choices=COMPARED_MODELS)
    parser.add_argument('--modes', nargs='+', default=list(MODES), choices=MODES)
    parser.add_argument('--dtypes', nargs='+', default=['fp32'], choices=list(DTYPES))
    parser.add_argument('--compile-mode', default=None,
                        help="torch.compile mode, e.g. max-autotune-no-cudagraphs or "
                             "reduce-overhead (CUDA graphs); default: inductor's default")
    parser.add_argument('--repeats', type=int, default=5, help='timed rounds (default 5)')
    parser.add_argument('--warmup', type=int, default=2,
                        help='untimed rounds, the first compiles (default 2)')
    parser.add_argument('--threads', type=int, default=None, help='torch CPU threads per worker')
    parser.add_argument('--keep-memory', action='store_true',
                        help='glibc keeps freed memory in each worker (CPU; see --isolate in '
                             'benchmarks/benchmark.py)')
    parser.add_argument('--serial-compile', action='store_true',
                        help='run the first (compiling) step of one worker at a time (default: '
                             'all at once, which overlaps the compilations)')
    parser.add_argument('--count-ops', action='store_true',
                        help='profile one more step per variant: ATen operator calls and GPU '
                             'kernels per training step')
    parser.add_argument('--out', help='write the result as JSON here')
    args = parser.parse_args(argv)
    try:
        args.arch = parse_arch('vit', args.arch)
    except ValueError as error:
        parser.error(str(error))
    if args.out:
        check_writable(parser, args.out)
    return args


def main(argv: Optional[List[str]] = None) -> Dict[str, Any]:
    args = parse_args(argv)
    from benchmarks.harness.compile_cost import format_compile_cost, run_compile_cost
    config = CompileCostConfig(
        arch=args.arch, depth=args.depth, batch_size=args.batch_size, img_size=args.img_size,
        device=args.device, models=tuple(args.models), modes=tuple(args.modes),
        dtypes=tuple(args.dtypes), compile_mode=args.compile_mode, repeats=args.repeats,
        warmup=args.warmup, threads=args.threads, keep_memory=args.keep_memory,
        num_classes=args.num_classes, parallel_compile=not args.serial_compile,
        count_ops=args.count_ops)
    try:
        config.validate()
    except ValueError as error:
        sys.exit(f'error: {error}')
    result = run_compile_cost(config, log=lambda line: print(line, flush=True))
    print_and_save(result, format_compile_cost(result), args.out)
    return result


if __name__ == '__main__':
    main()
