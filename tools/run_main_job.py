"""The main job, offline on CPUs: pretrain a small ViT on Fashion-MNIST, grow it 2x with
ScaleNet, train further, evaluate, print a table.

It is a preset of the evidence experiment (``experiments/reproduce_scalenet.py``): the same
recipe (``configs/cls/fashion_mnist/``), the same driver
(``experiments.scalenet_evidence.driver.run_experiment``), one seed and three of its arms:

0. data: the four Fashion-MNIST IDX files into ``--data-root`` (from the Debian package
   ``dataset-fashion-mnist``, a ``dpkg -x`` copy, or mmpretrain's download as a last resort);
1. ``pretrain`` (``vit_L4_fmnist.py``): a plain ViT of L layers trained from scratch for
   ``--pretrain-epochs``; its final weights are published as a weights-only file (sha256 in
   the name) from which the next steps start;
2. ``scalenet`` (``scalenet_2x_fmnist.py``): the L pretrained layers run as 2L instances
   (cyclic map, per-instance LoRA), backbone and head from step 1, ``--scale-epochs``;
3. ``continue`` (``vit_L4_continue_fmnist.py``, skipped with ``--no-baseline``): the L-layer
   model trained just as long as step 2 without growing, so that "deeper" and "trained
   longer" can be told apart;
4. ``scratch`` (``vit_L8_fmnist.py``, skipped with ``--no-scratch``): the deep plain ViT from
   scratch for ``--pretrain-epochs``, the paper's other comparison;

with the evidence experiment's sizes (docs/evidence.md): all 60,000 training images, a ViT of
L = 2 layers, width 64, patch 7, E = 18 and E' = 6 = E/3 epochs, every run at lr 2e-3 (the
regime of the regime test: the base is at its plateau and still underfits, the deep model from
scratch beats it, and unshared copies of its layers beat the control);

each trained by ``tools/train.py`` and evaluated by ``tools/test.py`` (all 10,000 test images
by default). Everything lands in ``--work-dir`` (default ``work_dirs/quickstart``): one folder
per run under ``runs/`` with mmengine's logs and checkpoints, ``results.md``,
``results.json`` and ``accuracy.png``. Re-running is safe: a finished run whose options are
unchanged is reused, one that was killed resumes from its last epoch, one whose options
changed starts again; ``--fresh`` starts everything again.

Usage::

    python tools/run_main_job.py                       # defaults: about 12 minutes on 2 idle cores
    python tools/run_main_job.py --layers 6 --embed-dims 96 --heads 3 --no-scratch
    python tools/run_main_job.py --train-size 512 --test-size 500 --pretrain-epochs 1 ...
"""
import argparse
import os
import os.path as osp
import shlex
import shutil
import sys
from typing import TYPE_CHECKING, List, Optional, Sequence, Tuple

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
# ``experiments`` (the driver; not installed) is imported from the checkout's root.
if REPO not in sys.path:
    sys.path.insert(0, REPO)

#: Where ``dpkg -x`` of the Debian package puts the files (tools/quickstart.sh, no root).
LOCAL_DEB_DIR = osp.join('data', 'debian', 'usr', 'share', 'datasets', 'fashion-mnist')
if TYPE_CHECKING:
    from experiments.scalenet_evidence import Arm, Settings

TITLE = 'Main job: a small ViT on Fashion-MNIST, grown 2x with ScaleNet'
WHAT_IT_SHOWS = (
    'What this shows: the method end to end (pretraining, growth with shared layers and '
    'per-instance LoRA, the published checkpoint, tools/train.py and tools/test.py) and, in the '
    "paper's protocol, how the grown model (E' epochs) compares with its base (E epochs), with "
    "the base trained E' more epochs without growing (the control: deeper vs trained longer) "
    'and with the deep plain ViT trained from scratch for E epochs. What it does not show: a '
    'difference below the seed spread, which one seed cannot measure (docs/evidence.md: 0.2-0.45 '
    'points of seed standard deviation for these arms). The 3-seed comparison with '
    'every ablation and the adapter study: python experiments/reproduce_scalenet.py.')

def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """Parse the command line; every size is a flag mapped to ``--cfg-options``."""
    parser = argparse.ArgumentParser(
        description='Pretrain a small ViT on Fashion-MNIST, scale it with ScaleNet, compare.',
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument('--work-dir', default=osp.join('work_dirs', 'quickstart'))
    parser.add_argument('--data-root', default=osp.join('data', 'fashion_mnist'),
                        help='where the uncompressed IDX files are (or will be put)')
    parser.add_argument('--data-source', action='append', default=[],
                        help='another directory holding the (gzipped) IDX files; may repeat')
    parser.add_argument('--no-download', action='store_true',
                        help="never download (otherwise mmpretrain's URLs are the last resort)")
    group = parser.add_argument_group('model')
    group.add_argument('--layers', type=int, default=2, help='L, layers of the pretrained ViT')
    group.add_argument('--embed-dims', type=int, default=64)
    group.add_argument('--heads', type=int, default=2)
    group.add_argument('--mlp-ratio', type=int, default=4)
    group.add_argument('--patch-size', type=int, default=7,
                       help='7: 4x4 tokens; 4: 7x7 tokens (about 2.6x the compute)')
    group.add_argument('--scale', type=float, default=2.0,
                       help='depth factor of the ScaleNet model (2.0: 2L instances)')
    group.add_argument('--lora-rank', type=int, default=4,
                       help='rank of the per-instance LoRA; 0 for plain sharing')
    group.add_argument('--gate-inserted', action='store_true',
                       help='zero-initialised gates on the inserted instances: the scaled '
                       'model starts out computing exactly the pretrained one')
    group = parser.add_argument_group('data and schedule')
    group.add_argument('--train-size', type=int, default=0,
                       help='first N of the 60,000 training images (0 = all)')
    group.add_argument('--val-size', type=int, default=1000,
                       help='test images evaluated after each epoch during training')
    group.add_argument('--test-size', type=int, default=10000,
                       help='test images evaluated by tools/test.py at the end')
    group.add_argument('--pretrain-epochs', type=int, default=18,
                       help='E: epochs of the L-layer model (and of --scratch)')
    group.add_argument('--scale-epochs', type=int, default=6,
                       help="E': epochs of the ScaleNet model and of the control (E/3 in "
                       'the paper)')
    group.add_argument('--batch-size', type=int, default=64)
    group.add_argument('--seed', type=int, default=0)
    parser.add_argument('--no-baseline', dest='baseline', action='store_false',
                        help='skip the control: the L-layer model trained --scale-epochs '
                        'more epochs without expansion (tells "deeper" from "trained longer")')
    parser.add_argument('--no-scratch', dest='scratch', action='store_false',
                        help='skip the deep plain ViT (round(scale * L) layers) trained from '
                        'scratch for --pretrain-epochs (the paper\'s other comparison; it is '
                        'the longest run of the job)')
    parser.add_argument('--scratch', dest='scratch', action='store_true', default=True,
                        help=argparse.SUPPRESS)  # the default since 2026-12-03; still accepted
    parser.add_argument('--fresh', action='store_true', help='delete --work-dir first')
    args = parser.parse_args(argv)
    for name in ('layers', 'embed_dims', 'heads', 'mlp_ratio', 'patch_size', 'val_size',
                 'test_size', 'pretrain_epochs', 'scale_epochs', 'batch_size'):
        if getattr(args, name) < 1:
            parser.error(f'--{name.replace("_", "-")} must be >= 1')
    if 28 % args.patch_size:
        parser.error(f'--patch-size {args.patch_size} does not divide the 28-pixel images '
                     f'(use 7, 4, 14 or 2)')
    if args.embed_dims % args.heads:
        parser.error(f'--embed-dims {args.embed_dims} is not divisible by --heads {args.heads}')
    if args.scale < 1.0:
        parser.error('--scale must be >= 1.0')
    if args.lora_rank < 0:
        parser.error('--lora-rank must be >= 0')
    if args.train_size < 0:
        parser.error('--train-size must be >= 0 (0 = all 60,000)')
    if args.test_size > 10000 or args.val_size > 10000 or args.train_size > 60000:
        parser.error('Fashion-MNIST has 60,000 training and 10,000 test images')
    return args


def settings_and_arms(args: argparse.Namespace) -> Tuple['Settings', List['Arm']]:
    """The experiment :class:`Settings` and arms this command line describes."""
    from experiments.scalenet_evidence import ARMS_BY_NAME, Settings

    grown = 'scalenet'
    if args.lora_rank == 0:
        grown = 'shared_noadapter'  # plain sharing, no adapters
    elif args.gate_inserted:
        grown = 'gate'
    arms = ['pretrain', grown]
    if args.baseline:
        arms.append('continue')
    if args.scratch:
        arms.append('scratch')
    settings = Settings(
        layers=args.layers, scale=args.scale, embed_dims=args.embed_dims,
        num_heads=args.heads, feedforward_channels=args.embed_dims * args.mlp_ratio,
        patch_size=args.patch_size, lora_rank=max(1, args.lora_rank),
        pretrain_epochs=args.pretrain_epochs, epochs=args.scale_epochs, scratch_epochs=0,
        train_size=args.train_size, val_size=args.val_size, test_size=args.test_size,
        batch_size=args.batch_size, seeds=(args.seed, ))
    return settings, [ARMS_BY_NAME[name] for name in arms]


def main(argv: Optional[Sequence[str]] = None) -> None:
    """Run the preset through the experiment's driver, then print the table."""
    args = parse_args(argv)
    # The tools run from the repository root: make the user's paths independent of it.
    work_dir = osp.abspath(args.work_dir)
    data_root = osp.abspath(args.data_root)
    sources = [osp.abspath(p) for p in args.data_source]
    os.chdir(REPO)
    if args.fresh and osp.isdir(work_dir):
        shutil.rmtree(work_dir)

    from experiments.scalenet_evidence.driver import run_experiment
    from scalenet_mm.datasets.fashion_mnist import prepare_fashion_mnist

    settings, arms = settings_and_arms(args)
    try:
        settings.validate()
    except ValueError as error:
        raise SystemExit(f'run_main_job.py: {error}') from None
    print(f'[main job] step 0: Fashion-MNIST in {data_root}', flush=True)
    prepare_fashion_mnist(data_root, [*sources, LOCAL_DEB_DIR], download=not args.no_download)
    command = 'python tools/run_main_job.py ' + ' '.join(
        shlex.quote(a) for a in (sys.argv[1:] if argv is None else argv))
    # Two runs at a time (the base and the deep model from scratch do not wait for each other;
    # the grown arms wait for the base), each with half the cores: these small models use
    # one core well and a second one poorly.
    cores = os.cpu_count() or 1
    jobs = 2 if cores >= 2 and len(arms) > 1 else 1
    outcome = run_experiment(settings, arms, work_dir, data_root, command, jobs=jobs,
                             threads=max(1, cores // jobs),
                             log=lambda line: print(f'[main job] {line}', flush=True),
                             echo=True, title=TITLE, notes=[WHAT_IT_SHOWS])
    print('\n[main job] results\n' + outcome.report, flush=True)
    if outcome.failed:
        raise SystemExit(f'[main job] runs that did not finish: {outcome.failed} (their logs '
                         f'are under {osp.join(work_dir, "runs")})')


if __name__ == '__main__':
    main()
