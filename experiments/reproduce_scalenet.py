"""Reproduce ScaleNet's central claim at CPU scale: a small ViT on Fashion-MNIST.

One command trains, through ``tools/train.py`` and the configs in ``experiments/configs/``:

1. a plain ViT of L layers for E epochs: the "pretrained" model (one per seed);
2. a plain 2L-layer ViT from scratch for 3E' epochs;
3. ScaleNet: the pretrained model run as 2L layer instances (cyclic map, LoRA on every
   instance), initialised from (1), for E' epochs;
4. ablations at E' epochs, also initialised from (1): shared layers without adapters,
   unshared copies (stacking), the interleaved map, zero-initialised gates;
5. a control: the pretrained model trained E' more epochs without growing;

for every seed, then writes ``results.md`` (table and claims), ``results.json`` and
``accuracy.png`` (test accuracy per epoch of every arm) to the work directory. Finished runs
are reused when the command is repeated with the same sizes.

Example (the documented default; about 35-45 minutes on two quiet CPU cores)::

    python experiments/reproduce_scalenet.py --work-dir work_dirs/evidence

A quick smoke run::

    python experiments/reproduce_scalenet.py --work-dir /tmp/ev --seeds 0 --train-size 64 \\
        --test-size 64 --pretrain-epochs 2 --epochs 2 --scratch-factor 1 --layers 1 \\
        --embed-dims 16 --num-heads 2 --ffn 32
"""
import argparse
import json
import os
import os.path as osp
import shlex
import signal
import sys
import time
from dataclasses import asdict
from typing import List, Optional

# Run as ``python experiments/reproduce_scalenet.py`` from a checkout: ``experiments`` (not
# installed) is imported from the repository root, the folder above this file.
ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from experiments.scalenet_evidence import (ARMS, ARMS_BY_NAME, Executor,  # noqa: E402
                                           Settings, check_claims, markdown_report, plan_runs,
                                           plot_curves, summarise)
from scalenet_mm.datasets.fashion_mnist import prepare_fashion_mnist  # noqa: E402
from scalenet_mm.engine.atomic_checkpoint import atomic_write  # noqa: E402


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """The command line; every size of :class:`Settings` is an option."""
    d = Settings()
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument('--work-dir', default='work_dirs/evidence',
                   help='runs, results.md, results.json and accuracy.png go here')
    p.add_argument('--data-root', default=None,
                   help='Fashion-MNIST data_root (the uncompressed IDX files); by default '
                   '<work-dir>/data/fashion_mnist, filled from the Debian package '
                   'dataset-fashion-mnist or --data-source')
    p.add_argument('--data-source', default=None,
                   help='another folder holding the (gzipped) IDX files')
    p.add_argument('--layers', type=int, default=d.layers, help='L of the pretrained ViT')
    p.add_argument('--embed-dims', type=int, default=d.embed_dims)
    p.add_argument('--num-heads', type=int, default=d.num_heads)
    p.add_argument('--ffn', type=int, default=d.feedforward_channels,
                   help='feed-forward channels')
    p.add_argument('--patch-size', type=int, default=d.patch_size)
    p.add_argument('--lora-rank', type=int, default=d.lora_rank)
    p.add_argument('--pretrain-epochs', type=int, default=d.pretrain_epochs, help='E')
    p.add_argument('--epochs', type=int, default=d.epochs, help="E' of every growth arm")
    p.add_argument('--scratch-factor', type=int, default=d.scratch_factor,
                   help="the from-scratch 2L model trains this many times E' epochs")
    p.add_argument('--train-size', type=int, default=d.train_size,
                   help='first N training images (0 = all 60,000)')
    p.add_argument('--test-size', type=int, default=d.test_size,
                   help='first N test images evaluated after every epoch (0 = all 10,000)')
    p.add_argument('--batch-size', type=int, default=d.batch_size)
    p.add_argument('--lr', type=float, default=d.lr,
                   help='AdamW peak learning rate of the runs from scratch')
    p.add_argument('--growth-lr', type=float, default=d.growth_lr,
                   help='AdamW peak learning rate of the runs that start from the pretrained '
                   'model (growth arms and control)')
    p.add_argument('--seeds', type=int, nargs='+', default=list(d.seeds))
    p.add_argument('--arms', nargs='+', choices=[a.name for a in ARMS],
                   default=[a.name for a in ARMS],
                   help='arms to run (the pretrained one is added when another needs it)')
    p.add_argument('--jobs', type=int, default=2, help='training subprocesses at once')
    p.add_argument('--threads', type=int, default=1, help='CPU threads per subprocess')
    p.add_argument('--fresh', action='store_true',
                   help='train every run again instead of reusing finished ones')
    return p.parse_args(argv)


def settings_from(args: argparse.Namespace) -> Settings:
    """The :class:`Settings` the options describe (validated)."""
    settings = Settings(
        layers=args.layers, embed_dims=args.embed_dims, num_heads=args.num_heads,
        feedforward_channels=args.ffn, patch_size=args.patch_size, lora_rank=args.lora_rank,
        pretrain_epochs=args.pretrain_epochs, epochs=args.epochs,
        scratch_factor=args.scratch_factor, train_size=args.train_size,
        test_size=args.test_size, batch_size=args.batch_size, lr=args.lr, growth_lr=args.growth_lr,
        seeds=tuple(args.seeds))
    settings.validate()
    return settings


def _stop_on_sigterm(signum: int, frame: object) -> None:
    """Turn SIGTERM (``kill``) into an exception, so the running training subprocesses are
    terminated too (SIGINT may be ignored in background jobs)."""
    raise KeyboardInterrupt(f'signal {signum}')


def main(argv: Optional[List[str]] = None) -> int:
    """Run the experiment and write its report; returns 0 when every run finished."""
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    settings = settings_from(args)
    work_dir = osp.abspath(args.work_dir)
    os.makedirs(work_dir, exist_ok=True)
    # Growth runs start from the pretraining run's Runner checkpoint, loaded in this process
    # (stacking) and in the tools/train.py subprocesses (init_cfg): the experiment's own work
    # dir is trusted, and only it (docs/stack_fixes.md).
    from scalenet_mm.runtime import TRUST_ENV, install
    install(work_dir=work_dir)
    os.environ[TRUST_ENV] = os.pathsep.join(
        p for p in (os.environ.get(TRUST_ENV), work_dir) if p)
    log_path = osp.join(work_dir, 'reproduce.log')
    log_file = open(log_path, 'a')

    def log(message: str) -> None:
        line = f'{time.strftime("%H:%M:%S")} {message}'
        print(line, flush=True)
        log_file.write(line + '\n')
        log_file.flush()

    command = 'python experiments/reproduce_scalenet.py ' + ' '.join(
        shlex.quote(a) for a in (sys.argv[1:] if argv is None else argv))
    data_root = osp.abspath(prepare_fashion_mnist(
        args.data_root or osp.join(work_dir, 'data', 'fashion_mnist'),
        sources=[args.data_source] if args.data_source else []))

    arms = tuple(ARMS_BY_NAME[name] for name in args.arms)
    runs = plan_runs(settings, work_dir, data_root, arms)
    log(f'{command}\n  settings: {asdict(settings)}\n  {len(runs)} runs, {args.jobs} at a '
        f'time, {args.threads} thread(s) each; cpu count {os.cpu_count()}, load average '
        f'{os.getloadavg()[0]:.1f}')
    start = time.time()
    results = Executor(runs, settings, jobs=args.jobs, threads=args.threads,
                       reuse=not args.fresh, log=log).run_all()
    elapsed = time.time() - start

    summaries = summarise(results, settings, arms=tuple(a for a in ARMS
                                                       if a.name in {r.arm.name for r in runs}))
    plot_file = plot_curves(summaries, settings, osp.join(work_dir, 'accuracy.png'))
    notes = [f'Total wall time of this invocation: {elapsed / 60:.1f} min ({args.jobs} '
             f'training processes at a time, {args.threads} thread(s) each; reused runs take '
             f'no time). Load average at the end: {os.getloadavg()[0]:.1f} on '
             f'{os.cpu_count()} CPUs.',
             'Wall time per run includes process start, loading and the per-epoch test '
             'evaluation; runs share the CPU with the other concurrent run(s).']
    report = markdown_report(summaries, settings, command, osp.basename(plot_file), notes)
    atomic_write(osp.join(work_dir, 'results.md'), report)
    atomic_write(osp.join(work_dir, 'results.json'),
                 json.dumps(dict(settings=asdict(settings), command=command, elapsed_s=elapsed,
                                 claims=check_claims(summaries), runs=results), indent=1))
    log(f'wrote {osp.join(work_dir, "results.md")} and {plot_file} '
        f'({elapsed / 60:.1f} min)')
    print(report)
    failed = [name for name, r in results.items() if r.get('status') != 'ok']
    if failed:
        log(f'runs that did not finish: {failed}')
    log_file.close()
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
