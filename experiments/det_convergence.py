"""Check that a ScaleNet Mask R-CNN learns: train a small one on generated shapes on CPU.

Generates a COCO-format shapes set (:mod:`scalenet_mm.testing.coco_shapes`: filled
rectangles, ellipses and triangles with exact polygon masks), writes a config that inherits
``configs/det/mask_rcnn_scalenet_b2x.py`` (the real model, pipeline, optimizer constructor
and schedule types) reduced to CPU size (a ``--embed-dims``-wide ViT of 2 shared layers run
as 4 instances, 128 px images, 2x2-window attention in instances 0 and 2, global in 1 and 3),
trains it from scratch with ``tools/train.py``, evaluating bbox and segm mAP with pycocotools
a few times on the way, and prints the falling losses and the rising mAP.

Example (about 11 minutes on 2 busy CPU cores, ~2 s per iteration)::

    python experiments/det_convergence.py --work-dir work_dirs/det_convergence \
        --iters 300 --evals 3

One such run (defaults: 64 train / 16 val images, 128-wide ViT, batch 2, AdamW 5e-4) gave
a total loss of 2.46 -> 1.64 (RPN objectness 0.62 -> 0.12, mask 0.94 -> 0.53; the box and
classification losses of the RoI head rise again after ~100 iterations, as the RPN starts to
deliver harder positives), and bbox / segm mAP@[.5:.95] of 0 / 0 (no detection above the
score threshold) at iteration 100, 0.001 / 0.000 at 200 and 0.006 / 0.002 at 300
(mAP@.5: 0.025 / 0.012). From scratch on a CPU budget the mAP stays small: the check is that
it trains and keeps improving, not a benchmark.

Not part of the test suite: it is a demonstration that the detection stack trains, with
numbers to compare between changes. Weights start from scratch (no pretrained ViT can be
downloaded here), so the absolute mAP says little about COCO.
"""
import argparse
import json
import os
import os.path as osp
import subprocess
import sys
import time
from typing import Dict, List, Optional

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))  # experiments/ is one level down
BASE_CONFIG = osp.join(REPO_ROOT, 'configs', 'det', 'mask_rcnn_scalenet_b2x.py')
LOSS_KEYS = ('loss', 'loss_rpn_cls', 'loss_rpn_bbox', 'loss_cls', 'loss_bbox', 'loss_mask')
METRIC_KEYS = ('coco/bbox_mAP', 'coco/bbox_mAP_50', 'coco/segm_mAP', 'coco/segm_mAP_50')

def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--work-dir', default='work_dirs/det_convergence')
    parser.add_argument('--iters', type=int, default=300, help='training iterations')
    parser.add_argument('--evals', type=int, default=3, help='mAP evaluations during training')
    parser.add_argument('--batch-size', type=int, default=2)
    parser.add_argument('--lr', type=float, default=5e-4)
    parser.add_argument('--embed-dims', type=int, default=128)
    parser.add_argument('--num-train', type=int, default=64)
    parser.add_argument('--num-val', type=int, default=16)
    parser.add_argument('--image-size', type=int, default=128)
    parser.add_argument('--seed', type=int, default=0)
    return parser.parse_args(argv)


def write_config(args: argparse.Namespace, train, val, classes) -> str:
    """The reduced config (a child of the B-2x config) for this run; returns its path."""
    from scalenet_mm.testing import ReducedDetSizes, write_reduced_mask_rcnn_config

    sizes = ReducedDetSizes(
        image=args.image_size, dims=args.embed_dims, num_heads=args.embed_dims // 32,
        ffn=4 * args.embed_dims, neck=64, fc=256, drop_path=0.0, with_cp=False,
        batch=args.batch_size, val_batch=4, lr=args.lr, weight_decay=0.05, layer_decay=0.9,
        clip_grad=10.0, max_iters=args.iters,
        val_interval=max(1, args.iters // max(1, args.evals)),
        warmup=max(2, args.iters // 20), warmup_factor=0.01,  # LinearLR needs end >= 2
        lr_drop=int(args.iters * 0.8), log_interval=10, nms_pre=300, ratio_range=(0.75, 1.33),
        seed=args.seed)
    return write_reduced_mask_rcnn_config(osp.join(args.work_dir, 'det_convergence.py'),
                                          BASE_CONFIG, train, val, classes, sizes)


def read_scalars(work_dir: str) -> List[Dict]:
    """Every record of the newest run's ``vis_data/scalars.json`` in ``work_dir``."""
    runs = sorted(d for d in os.listdir(work_dir)
                  if osp.isfile(osp.join(work_dir, d, 'vis_data', 'scalars.json')))
    if not runs:
        raise FileNotFoundError(f'no vis_data/scalars.json under {work_dir}')
    with open(osp.join(work_dir, runs[-1], 'vis_data', 'scalars.json')) as f:
        return [json.loads(line) for line in f if line.strip()]


def summarise(records: List[Dict]) -> Dict[str, object]:
    """Loss at the start and the end of training (mean of the first / last logged tenth) and
    the mAP of every evaluation."""
    train = [r for r in records if 'loss' in r]
    evals, last_iter = [], 0
    for record in records:  # mmengine logs iteration-based evaluations with step 0
        if 'loss' in record:
            last_iter = record['iter']
        elif 'coco/bbox_mAP' in record:
            evals.append(dict(record, iter=last_iter))
        elif 'lr' not in record:  # an evaluation without any detection above the threshold
            evals.append(dict({key: 0.0 for key in METRIC_KEYS}, iter=last_iter))
    k = max(1, len(train) // 10)
    losses = {key: (sum(r[key] for r in train[:k]) / k, sum(r[key] for r in train[-k:]) / k)
              for key in LOSS_KEYS if key in train[0]}
    return dict(losses=losses, train=train, evals=evals)


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    sys.path.insert(0, REPO_ROOT)
    from scalenet_mm.testing import SHAPE_CLASSES, generate_coco_shapes

    args.work_dir = osp.abspath(args.work_dir)
    os.makedirs(args.work_dir, exist_ok=True)
    data_root = osp.join(args.work_dir, 'data')
    size = (args.image_size, args.image_size)
    train = generate_coco_shapes(data_root, 'train', args.num_train, size, seed=args.seed)
    val = generate_coco_shapes(data_root, 'val', args.num_val, size, seed=args.seed + 1)
    print(f'data: {train.num_images} train images ({train.num_objects} objects), '
          f'{val.num_images} val images ({val.num_objects} objects) under {data_root}')
    config = write_config(args, train, val, SHAPE_CLASSES)

    env = dict(os.environ)
    env.setdefault('OMP_NUM_THREADS', str(os.cpu_count() or 1))
    start = time.time()
    log_path = osp.join(args.work_dir, 'train.log')
    with open(log_path, 'w') as log:
        proc = subprocess.run([sys.executable, osp.join(REPO_ROOT, 'tools', 'train.py'), config,
                               '--work-dir', args.work_dir], cwd=REPO_ROOT, env=env,
                              stdout=log, stderr=subprocess.STDOUT, check=False)
    minutes = (time.time() - start) / 60
    if proc.returncode != 0:
        print(f'tools/train.py failed ({proc.returncode}); see {log_path}')
        return proc.returncode

    summary = summarise(read_scalars(args.work_dir))
    print(f'trained {args.iters} iterations of {args.batch_size} images in {minutes:.1f} min '
          f'(log: {log_path})')
    print(f'{"loss":<16}{"start":>10}{"end":>10}')
    for key, (first, last) in summary['losses'].items():
        print(f'{key:<16}{first:>10.4f}{last:>10.4f}')
    print('loss every ~10%: ' + ', '.join(
        f'{r["iter"]}:{r["loss"]:.3f}'
        for r in summary['train'][::max(1, len(summary['train']) // 10)]))
    print(f'{"eval at iter":<14}' + ''.join(f'{k.split("/")[1]:>16}' for k in METRIC_KEYS))
    for record in summary['evals']:
        print(f'{record["iter"]:<14}' +
              ''.join(f'{record[k]:>16.3f}' for k in METRIC_KEYS))
    return 0


if __name__ == '__main__':
    sys.exit(main())
