"""Reproduce ScaleNet's central claim at CPU scale: a small ViT on Fashion-MNIST.

One command trains, through ``tools/train.py`` and evaluates, through ``tools/test.py``, with
the project's Fashion-MNIST recipe (``configs/cls/fashion_mnist/``; ablations in
``experiments/configs/``), for every seed:

1. the base: a plain ViT of L layers for E epochs (one per seed);
2. the deep plain ViT of ``scale * L`` layers from scratch, for E epochs too (the paper's
   protocol: base and deep model both get the full schedule);
3. ScaleNet: the base run as ``scale * L`` layer instances (cyclic map, LoRA on every
   instance), initialised from (1), for E' epochs (a third of E in the paper);
4. ablations at E' epochs, also initialised from (1): shared layers without adapters,
   unshared copies (stacking), the interleaved map, zero-initialised gates;
5. a control: the base trained E' more epochs without growing;

then writes ``results.md`` (table and claims), ``results.json`` and ``accuracy.png``
(validation accuracy per epoch of every arm) to the work directory. Finished runs are reused
and interrupted ones resumed when the command is repeated with the same sizes. The README's
main job (``tools/run_main_job.py``) is a preset of this command.

Example (the documented default: 14 arms x 3 seeds on all 60,000 images, L = 2, width 64,
E = 18; about 90 minutes on 2 idle CPU cores, estimated from the CPU time of its 42 runs,
docs/evidence.md)::

    python experiments/reproduce_scalenet.py --work-dir work_dirs/evidence

The Swin arms (a small Swin, ``configs/cls/fashion_mnist/swin_fmnist.py``, grown 2x with
ScaleNet, and its not-grown control; :mod:`experiments.scalenet_evidence.swin_arms`) are not
in the default list; they run when named, alone or with ViT arms::

    python experiments/reproduce_scalenet.py --work-dir work_dirs/evidence_swin \\
        --arms swin_pretrain swin_scalenet swin_continue

A quick smoke run::

    python experiments/reproduce_scalenet.py --work-dir /tmp/ev --seeds 0 --train-size 64 \\
        --val-size 64 --test-size 64 --pretrain-epochs 2 --epochs 2 --layers 1 \\
        --embed-dims 16 --num-heads 2 --ffn 32
"""
import argparse
import os
import os.path as osp
import shlex
import signal
import sys
import time
from typing import List, Optional

# Run as ``python experiments/reproduce_scalenet.py`` from a checkout: ``experiments`` (not
# installed) is imported from the repository root, the folder above this file.
ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from experiments.scalenet_evidence import ARMS_BY_NAME, Settings  # noqa: E402
from experiments.scalenet_evidence.experiment import DIAGNOSIS_ARMS, SWIN_ARMS  # noqa: E402
from experiments.scalenet_evidence.driver import (arm_choices, default_arms,  # noqa: E402
                                                  run_experiment)
from scalenet_mm.datasets.fashion_mnist import prepare_fashion_mnist  # noqa: E402


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
    p.add_argument('--layers', type=int, default=d.layers, help='L of the base ViT')
    p.add_argument('--scale', type=float, default=d.scale,
                   help='depth factor of the grown and the deep models')
    p.add_argument('--embed-dims', type=int, default=d.embed_dims)
    p.add_argument('--num-heads', type=int, default=d.num_heads)
    p.add_argument('--ffn', type=int, default=d.feedforward_channels,
                   help='feed-forward channels')
    p.add_argument('--patch-size', type=int, default=d.patch_size)
    p.add_argument('--lora-rank', type=int, default=d.lora_rank)
    p.add_argument('--pretrain-epochs', type=int, default=d.pretrain_epochs, help='E')
    p.add_argument('--epochs', type=int, default=d.epochs,
                   help="E' of every growth arm and the control")
    p.add_argument('--scratch-epochs', type=int, default=d.scratch_epochs,
                   help='epochs of the deep model from scratch (0 = E, the paper\'s protocol)')
    p.add_argument('--train-size', type=int, default=d.train_size,
                   help='first N training images (0 = all 60,000)')
    p.add_argument('--val-size', type=int, default=d.val_size,
                   help='first N test images evaluated after every epoch (0 = all 10,000)')
    p.add_argument('--test-size', type=int, default=d.test_size,
                   help='first N test images evaluated by tools/test.py at the end of each '
                   'run: the reported top-1 (0 = all 10,000)')
    p.add_argument('--train-eval-size', type=int, default=d.train_eval_size,
                   help='first N training images evaluated by tools/test.py at the end of each '
                   'run: the training accuracy (0 = every image trained on)')
    p.add_argument('--batch-size', type=int, default=d.batch_size)
    p.add_argument('--lr', type=float, default=d.lr,
                   help='AdamW peak learning rate of the runs from scratch')
    p.add_argument('--growth-lr', type=float, default=d.growth_lr,
                   help='AdamW peak learning rate of the runs that start from the pretrained '
                   'model (growth arms and control)')
    p.add_argument('--growth-drop-path', type=float, default=d.growth_drop_path,
                   help='stochastic depth of the growth arms and the control, rising linearly '
                   'over the instances (0 = none, as the base; a diagnosis of the ViT arms)')
    p.add_argument('--seeds', type=int, nargs='+', default=list(d.seeds))
    p.add_argument('--arms', nargs='+', choices=arm_choices(), default=list(default_arms()),
                   help='arms to run (the base is added when another needs it); the diagnosis '
                   f'arms {", ".join(arm.name for arm in DIAGNOSIS_ARMS)} and the Swin arms '
                   f'{", ".join(arm.name for arm in SWIN_ARMS)} run only when named')
    p.add_argument('--jobs', type=int, default=2, help='training subprocesses at once')
    p.add_argument('--threads', type=int, default=1, help='CPU threads per subprocess')
    p.add_argument('--fresh', action='store_true',
                   help='train every run again instead of reusing finished ones and '
                   'resuming interrupted ones')
    return p.parse_args(argv)


def settings_from(args: argparse.Namespace) -> Settings:
    """The :class:`Settings` the options describe (validated)."""
    settings = Settings(
        layers=args.layers, scale=args.scale, embed_dims=args.embed_dims,
        num_heads=args.num_heads, feedforward_channels=args.ffn, patch_size=args.patch_size,
        lora_rank=args.lora_rank, pretrain_epochs=args.pretrain_epochs, epochs=args.epochs,
        scratch_epochs=args.scratch_epochs, train_size=args.train_size,
        val_size=args.val_size, test_size=args.test_size,
        train_eval_size=args.train_eval_size, batch_size=args.batch_size,
        lr=args.lr, growth_lr=args.growth_lr, growth_drop_path=args.growth_drop_path,
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
    try:
        settings = settings_from(args)
    except ValueError as error:
        raise SystemExit(f'reproduce_scalenet.py: {error}') from None
    work_dir = osp.abspath(args.work_dir)
    os.makedirs(work_dir, exist_ok=True)
    log_file = open(osp.join(work_dir, 'reproduce.log'), 'a')

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
    outcome = run_experiment(settings, [ARMS_BY_NAME[name] for name in args.arms], work_dir,
                             data_root, command, jobs=args.jobs, threads=args.threads,
                             reuse=not args.fresh, log=log)
    print(outcome.report)
    if outcome.failed:
        log(f'runs that did not finish: {outcome.failed}')
    log_file.close()
    return 1 if outcome.failed else 0


if __name__ == '__main__':
    sys.exit(main())
