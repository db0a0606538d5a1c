"""Detection on real objects: ScaleNet Mask R-CNN vs its base on Fashion-MNIST canvases (issue 17).

One command, through the real configs, ``tools/train.py`` and ``tools/test.py``:

0. data: a COCO instance-segmentation set composed of Fashion-MNIST garments
   (:mod:`scalenet_mm.testing.fashion_mnist_det`: canvases with several garments at several
   scales, overlapping, exact visible masks; train canvases from Fashion-MNIST's train split,
   val from its test split);
1. per seed, the backbone pretrained as a Fashion-MNIST classifier: a plain ViT of L layers at
   the detection patch scale (8 px patches, garments resized to 40 px;
   ``configs/cls/fashion_mnist/vit_det_pretrain_fmnist.py``), published weights-only; with
   ``--pretrain-input canvas --pretrain-side 64`` instead on 64 px canvases of one garment at
   the detection scales anywhere on the detection background, through the detector's own
   backbone layout (:mod:`experiments.det_evidence.canvas_pretrain`); with ``--grow-epochs N``
   the classifier is then also grown to ScaleNet 2x and trained N epochs as a classifier (the
   paper's order: (b) starts from that trained ScaleNet backbone) and trained N epochs without
   growing for the control arm ``vit_L_continued`` (docs/detection.md);
2. per seed, four Mask R-CNN arms with the same data, iterations, batch, image size, pipeline
   and schedule (:mod:`experiments.det_evidence.plan`): (a) the pretrained L-layer ViT,
   (b) its ScaleNet 2x (2L instances, LoRA, window attention in most instances and global in
   two), (c) a plain 2L-layer ViT from scratch, (d) mmdet's stock Mask R-CNN ResNet-18 FPN from
   scratch (the reference);
3. ``results.md`` / ``results.json`` (bbox and segm mAP, mAP@.5, per-arm wall time, mean ± std
   over seeds), ``map_curve.png`` (mAP against iterations) and ``predictions.png`` (mmdet's
   visualiser on val canvases, drawn by ``tools/test.py --show-dir``) in the work dir.

Finished runs are reused and interrupted ones resumed when the command is repeated with the
same settings (``result.json`` / ``run.json`` per run, written atomically).

Default (3 seeds, 600 iterations per arm, 2 runs at a time at 1 thread each)::

    python experiments/det_fashion_mnist.py --work-dir work_dirs/det_fashion_mnist

Cost measured on an idle 2-core AMD EPYC VM (2026-12-06), batch 4, 128 px, 1 thread per run,
2 runs at a time: ~0.65 s per iteration for every arm (the 8-instance ScaleNet ViT, the
plain ViTs and the ResNet-18 FPN alike), so ~400-420 s of ``tools/train.py`` per 600-iteration
run with its 3 curve evaluations on 40 canvases, ~25 s of ``tools/test.py`` on 100 canvases,
~100 s per classifier pretraining: 2 seeds took 30.6 minutes, 3 seeds take about 46. On a GPU,
scale ``--iters``, ``--num-train`` and ``--num-val`` up (e.g. ``--iters 3000 --num-train 5000
--num-val 500``).

The Swin arms, (e) a small plain Swin Mask R-CNN and (f) its ScaleNet 2x, each from a Swin
pretrained per seed as a Fashion-MNIST classifier
(``configs/cls/fashion_mnist/swin_det_pretrain_fmnist.py``; :mod:`experiments.det_evidence.swin`),
run when named, alone or with the ViT arms::

    python experiments/det_fashion_mnist.py --work-dir work_dirs/det_fashion_mnist \\
        --arms swin scalenet_swin_2x

A quick smoke run (the test's size)::

    python experiments/det_fashion_mnist.py --work-dir /tmp/det --seeds 0 --iters 2 --evals 1 \\
        --num-train 8 --num-val 4 --curve-val 2 --pretrain-size 256 --pretrain-epochs 1 \\
        --layers 2 --embed-dims 32 --num-heads 2 --ffn 64 --neck 32
"""
import argparse
import os.path as osp
import shlex
import sys
from typing import List, Optional

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
# ``experiments`` (not installed) is imported from the repository root, the folder above this.
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from experiments.det_evidence import ALL_ARMS, ARMS, DetSettings, run_det_experiment  # noqa: E402
from experiments.det_evidence.plan import (DIAGNOSIS_ARMS, POS_EMBED_TRANSFERS,  # noqa: E402
                                           PRETRAIN_INPUTS, PRETRAIN_READOUTS, SWIN_ARMS,
                                           plan_runs)
from scalenet_mm.method import SHARED_DEPTH_RULES  # noqa: E402


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    d = DetSettings()
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument('--work-dir', default='work_dirs/det_fashion_mnist')
    p.add_argument('--arms', nargs='+', default=[a.name for a in ARMS],
                   choices=[a.name for a in ALL_ARMS],
                   help='arms to run; the Swin arms ('
                   f'{", ".join(a.name for a in SWIN_ARMS)}) and the diagnosis arms ('
                   f'{", ".join(a.name for a in DIAGNOSIS_ARMS)}) run only when named')
    p.add_argument('--seeds', type=int, nargs='+', default=list(d.seeds))
    p.add_argument('--layers', type=int, default=d.layers, help='L of the pretrained ViT')
    p.add_argument('--embed-dims', type=int, default=d.embed_dims)
    p.add_argument('--num-heads', type=int, default=d.num_heads)
    p.add_argument('--ffn', type=int, default=d.feedforward_channels)
    p.add_argument('--patch', type=int, default=d.patch)
    p.add_argument('--window', type=int, default=d.window)
    p.add_argument('--lora-rank', type=int, default=d.lora_rank)
    p.add_argument('--pretrain-side', type=int, default=d.pretrain_side)
    p.add_argument('--pretrain-epochs', type=int, default=d.pretrain_epochs)
    p.add_argument('--pretrain-size', type=int, default=d.pretrain_size,
                   help='training images of the classifier (0 = all 60,000)')
    p.add_argument('--pretrain-lr', type=float, default=d.pretrain_lr)
    p.add_argument('--pretrain-readout', choices=PRETRAIN_READOUTS, default=d.pretrain_readout,
                   help="the classifier head's input: the class token, or the mean patch token")
    p.add_argument('--pretrain-input', choices=PRETRAIN_INPUTS, default=d.pretrain_input,
                   help='what the classifier sees: one garment filling the --pretrain-side '
                   'image, or a --pretrain-side canvas with one garment at the detection '
                   "scales anywhere on it, through the detector's backbone (windows, no class "
                   'token; --pretrain-side a multiple of patch * window)')
    p.add_argument('--grow-epochs', type=int, default=d.grow_epochs,
                   help="0: (b) grows the base classifier inside the detector; N: the paper's "
                   'order: the base classifier is grown to ScaleNet 2x and trained N epochs as '
                   'a classifier first, and (b) starts from that (the diagnosis arm '
                   'vit_L_continued starts from the base trained N epochs without growing)')
    p.add_argument('--pos-embed-transfer', choices=POS_EMBED_TRANSFERS,
                   default=d.pos_embed_transfer,
                   help="the detector's start for the classifier's position embedding")
    p.add_argument('--image', type=int, default=d.image, help='canvas side in pixels')
    p.add_argument('--num-train', type=int, default=d.num_train)
    p.add_argument('--num-val', type=int, default=d.num_val)
    p.add_argument('--curve-val', type=int, default=d.curve_val)
    p.add_argument('--objects', type=int, nargs=2, default=list(d.objects))
    p.add_argument('--scale', type=float, nargs=2, default=list(d.scale))
    p.add_argument('--iters', type=int, default=d.iters)
    p.add_argument('--batch', type=int, default=d.batch)
    p.add_argument('--evals', type=int, default=d.evals)
    p.add_argument('--lr', type=float, default=d.lr)
    p.add_argument('--weight-decay', type=float, default=d.weight_decay)
    p.add_argument('--layer-decay', type=float, default=d.layer_decay)
    p.add_argument('--shared-depth', choices=SHARED_DEPTH_RULES, default=d.shared_depth,
                   help='which use of a shared tensor sets its layer-decay depth')
    p.add_argument('--neck', type=int, default=d.neck)
    p.add_argument('--jobs', type=int, default=2, help='runs at a time')
    p.add_argument('--threads', type=int, default=1, help='CPU threads per run')
    p.add_argument('--no-reuse', action='store_true', help='train every run again')
    p.add_argument('--source', action='append', default=[],
                   help='a directory holding the Fashion-MNIST IDX files (may repeat)')
    return p.parse_args(argv)


def settings_from_args(args: argparse.Namespace) -> DetSettings:
    return DetSettings(
        layers=args.layers, embed_dims=args.embed_dims, num_heads=args.num_heads,
        feedforward_channels=args.ffn, patch=args.patch, window=args.window,
        lora_rank=args.lora_rank, pretrain_side=args.pretrain_side,
        pretrain_epochs=args.pretrain_epochs, pretrain_size=args.pretrain_size,
        pretrain_lr=args.pretrain_lr, pretrain_readout=args.pretrain_readout,
        pretrain_input=args.pretrain_input, grow_epochs=args.grow_epochs,
        pos_embed_transfer=args.pos_embed_transfer, image=args.image, num_train=args.num_train,
        num_val=args.num_val, curve_val=args.curve_val, objects=tuple(args.objects),
        scale=tuple(args.scale), iters=args.iters, batch=args.batch, evals=args.evals,
        lr=args.lr, weight_decay=args.weight_decay, layer_decay=args.layer_decay,
        shared_depth=args.shared_depth, neck=args.neck, seeds=tuple(args.seeds))


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    settings = settings_from_args(args)
    arms = tuple(a for a in ALL_ARMS if a.name in args.arms)
    try:
        settings.validate()
        plan_runs(settings, args.work_dir, arms)  # arms the settings cannot run, before any I/O
    except ValueError as error:
        print(f'error: {error}', file=sys.stderr)
        return 2
    command = 'python experiments/det_fashion_mnist.py ' + ' '.join(
        shlex.quote(a) for a in (sys.argv[1:] if argv is None else argv))
    outcome = run_det_experiment(settings, args.work_dir, command,
                                 arms=arms,
                                 jobs=args.jobs,
                                 threads=args.threads, reuse=not args.no_reuse,
                                 sources=args.source)
    print(outcome.report)
    if outcome.failed:
        print(f'failed runs: {", ".join(outcome.failed)}', file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
