"""Measure what weight sharing saves in a training step: the optimizer step and the DDP
gradient all-reduce, ScaleNet beside plain models of the same depth, in one run.

Prints, per model: the tensors and elements AdamW steps over, its state, the median time of
``optimizer.step()`` (``foreach`` and ``fused`` AdamW, interleaved rounds, gradients in place),
and the gradient bytes DDP all-reduces per step with the time of all-reducing exactly those
buckets across ``--nproc`` processes started by ``torchrun`` (gloo on CPU, NCCL with
``--device cuda``), each as a ratio to the reference model. The forward and backward are timed
by ``benchmarks/benchmark.py``; these two parts do not depend on the batch.

Example (CPU, 2 gloo processes)::

    python benchmarks/sharing_cost.py --arch deit-base --depth 2 --threads 1 \
        --out work_dirs/bench/sharing_deit-b.json
"""
import argparse
import json
import os.path as osp
import subprocess
import sys
import tempfile
from typing import Any, Dict, List, Optional

# Run as ``python benchmarks/sharing_cost.py`` from a checkout: ``benchmarks`` (not installed)
# is imported from the repository root, the folder above this file.
ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from benchmarks.harness.cli import check_writable, print_and_save  # noqa: E402
from benchmarks.harness.families import (FAMILIES, default_arch,  # noqa: E402
                                         parse_arch)

#: Models compared (no 'exported' / 'pretrained': they are not trained at the scaled depth).
TRAINED_MODELS = ('scalenet', 'mmpretrain', 'timm')


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--family', default='vit', choices=FAMILIES)
    parser.add_argument('--arch', default=None,
                        help='arch name or JSON dict (default deit-small / tiny)')
    parser.add_argument('--depth', type=float, default=2.0, help='depth factor (default 2)')
    parser.add_argument('--img-size', type=int, default=224)
    parser.add_argument('--models', nargs='+', default=list(TRAINED_MODELS),
                        choices=TRAINED_MODELS)
    parser.add_argument('--reference', default='mmpretrain', choices=TRAINED_MODELS)
    parser.add_argument('--repeats', type=int, default=5, help='timed rounds (default 5)')
    parser.add_argument('--warmup', type=int, default=1, help='untimed rounds (default 1)')
    parser.add_argument('--nproc', type=int, default=2,
                        help='DDP processes of the all-reduce measurement (default 2)')
    parser.add_argument('--device', default='cpu',
                        help="'cpu' (gloo) or 'cuda' (NCCL, one GPU per process)")
    parser.add_argument('--threads', type=int, default=None, help='torch CPU threads')
    parser.add_argument('--skip-optimizer', action='store_true')
    parser.add_argument('--skip-allreduce', action='store_true')
    parser.add_argument('--out', help='write the result as JSON here')
    args = parser.parse_args(argv)
    for name in ('img_size', 'repeats', 'nproc'):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1")
    if args.nproc < 2 and not args.skip_allreduce:
        parser.error('--nproc must be >= 2 for an all-reduce (or pass --skip-allreduce)')
    if args.warmup < 0:
        parser.error('--warmup must be >= 0')
    if args.reference not in args.models:
        parser.error(f'--reference {args.reference} is not among --models {args.models}')
    try:
        args.arch = parse_arch(args.family, args.arch or default_arch(args.family))
    except ValueError as error:
        parser.error(str(error))
    if args.out:
        check_writable(parser, args.out)
    return args


def run_allreduce(args: argparse.Namespace) -> Dict[str, Any]:
    """Start ``torchrun`` with ``args.nproc`` ranks of :mod:`benchmarks.harness.allreduce_worker`
    and return rank 0's result; RuntimeError with torchrun's output if it fails."""
    from benchmarks.harness import worker_env
    with tempfile.TemporaryDirectory() as folder:
        out = osp.join(folder, 'allreduce.json')
        spec = dict(family=args.family, models=args.models, arch=args.arch, depth=args.depth,
                    img_size=args.img_size, num_classes=1000, seed=0, repeats=args.repeats,
                    warmup=args.warmup, threads=args.threads, device=args.device, out=out)
        command = [sys.executable, '-m', 'torch.distributed.run', '--standalone',
                   f'--nproc-per-node={args.nproc}', '-m', 'benchmarks.harness.allreduce_worker',
                   json.dumps(spec)]
        env = worker_env()
        env.setdefault('OMP_NUM_THREADS', str(args.threads or 1))
        proc = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
        if proc.returncode != 0 or not osp.exists(out):
            raise RuntimeError(f'torchrun of the all-reduce workers failed (exit '
                               f'{proc.returncode}):\n{(proc.stdout + proc.stderr)[-4000:]}')
        with open(out) as handle:
            return json.load(handle)


def main(argv: Optional[List[str]] = None) -> Dict[str, Any]:
    args = parse_args(argv)
    import torch

    from benchmarks.harness.benchmark import machine_info
    from benchmarks.harness.families import build_models
    from benchmarks.harness.sharing import OPTIMIZER_IMPLEMENTATIONS, optimizer_step_times
    from benchmarks.harness.sharing_report import format_sharing
    if args.threads:
        torch.set_num_threads(args.threads)
    result: Dict[str, Any] = dict(family=args.family, arch=args.arch, depth=args.depth,
                                  img_size=args.img_size, models=args.models,
                                  reference=args.reference,
                                  machine=machine_info(torch.device(args.device)))
    if not args.skip_optimizer:
        models = build_models(args.family, args.models, args.arch, args.depth, args.img_size)
        result['optimizer'] = {
            implementation: optimizer_step_times(models, implementation, args.repeats,
                                                 args.warmup)
            for implementation in OPTIMIZER_IMPLEMENTATIONS}
        del models
    if not args.skip_allreduce:
        try:
            result['allreduce'] = run_allreduce(args)
        except RuntimeError as error:
            sys.exit(f'error: {error}')
    print_and_save(result, format_sharing(result), args.out)
    return result


if __name__ == '__main__':
    main()
