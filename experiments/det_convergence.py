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

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
BASE_CONFIG = osp.join(REPO_ROOT, 'configs', 'det', 'mask_rcnn_scalenet_b2x.py')
LOSS_KEYS = ('loss', 'loss_rpn_cls', 'loss_rpn_bbox', 'loss_cls', 'loss_bbox', 'loss_mask')
METRIC_KEYS = ('coco/bbox_mAP', 'coco/bbox_mAP_50', 'coco/segm_mAP', 'coco/segm_mAP_50')

CONFIG_TEMPLATE = '''
_base_ = [{base!r}]
custom_imports = dict(imports=['scalenet_mm'], allow_failed_imports=False)
image_size = ({size}, {size})
dims = {dims}
classes = {classes!r}
model = dict(
    data_preprocessor=dict(
        batch_augments=[dict(type='BatchFixedSizePad', size=image_size, pad_mask=True)]),
    backbone=dict(
        arch=dict(_delete_=True, embed_dims=dims, num_layers=2, num_heads=dims // 32,
                  feedforward_channels=4 * dims),
        depth=4, img_size={size}, window_size=4, global_attn_indexes=(1, 3),
        drop_path_rate=0.0, with_cp=False, init_cfg=None),
    neck=dict(in_channels=dims, out_channels=64),
    rpn_head=dict(in_channels=64, feat_channels=64),
    roi_head=dict(
        bbox_roi_extractor=dict(out_channels=64),
        bbox_head=dict(in_channels=64, conv_out_channels=64, fc_out_channels=256,
                       num_classes=len(classes)),
        mask_roi_extractor=dict(out_channels=64),
        mask_head=dict(in_channels=64, conv_out_channels=64, num_classes=len(classes))),
    train_cfg=dict(rpn_proposal=dict(nms_pre=300, max_per_img=100),
                   rcnn=dict(sampler=dict(num=64))),
    test_cfg=dict(rpn=dict(nms_pre=300, max_per_img=100)))
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='RandomResize', scale=image_size, ratio_range=(0.75, 1.33), keep_ratio=True),
    dict(type='RandomCrop', crop_type='absolute_range', crop_size=image_size,
         recompute_bbox=True, allow_negative_crop=True),
    dict(type='FilterAnnotations', min_gt_bbox_wh=(1e-2, 1e-2)),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=image_size, keep_ratio=True),
    dict(type='Pad', size=image_size, pad_val=dict(img=(104, 116, 124))),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='PackDetInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')),
]
data_root = {data_root!r}
train_dataloader = dict(
    batch_size={batch}, num_workers=0, persistent_workers=False,
    dataset=dict(data_root=data_root, ann_file='annotations/instances_train.json',
                 data_prefix=dict(img='train/'), metainfo=dict(classes=classes),
                 pipeline=train_pipeline, filter_cfg=dict(filter_empty_gt=True, min_size=1)))
val_dataloader = dict(
    batch_size=4, num_workers=0, persistent_workers=False,
    dataset=dict(data_root=data_root, ann_file='annotations/instances_val.json',
                 data_prefix=dict(img='val/'), metainfo=dict(classes=classes),
                 pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + '/annotations/instances_val.json')
test_evaluator = val_evaluator
optim_wrapper = dict(type='OptimWrapper', optimizer=dict(lr={lr}, weight_decay=0.05),
                     paramwise_cfg=dict(layer_decay_rate=0.9), clip_grad=dict(max_norm=10.0))
max_iters = {iters}
train_cfg = dict(max_iters=max_iters, val_interval={val_interval}, dynamic_intervals=None)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end={warmup}),
    dict(type='MultiStepLR', begin=0, end=max_iters, by_epoch=False,
         milestones=[int(max_iters * 0.8)], gamma=0.1),
]
default_hooks = dict(logger=dict(interval=10),
                     checkpoint=dict(interval=max_iters, max_keep_ckpts=1))
env_cfg = dict(dist_cfg=dict(backend='gloo'))
randomness = dict(seed={seed})
'''


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


def write_config(args: argparse.Namespace, data_root: str, classes) -> str:
    """The reduced config (a child of the B-2x config) for this run; returns its path."""
    path = osp.join(args.work_dir, 'det_convergence.py')
    with open(path, 'w') as f:
        f.write(CONFIG_TEMPLATE.format(
            base=BASE_CONFIG, size=args.image_size, dims=args.embed_dims,
            classes=tuple(classes), data_root=data_root, batch=args.batch_size, lr=args.lr,
            iters=args.iters, val_interval=max(1, args.iters // max(1, args.evals)),
            warmup=max(2, args.iters // 20), seed=args.seed))  # LinearLR needs end >= 2
    return path


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
    config = write_config(args, data_root, SHAPE_CLASSES)

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
