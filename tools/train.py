"""Train a model from an mmpretrain or mmdet config (OpenMMLab's tools/train.py options).

Examples::

    python tools/train.py configs/cls/<config>.py
    python tools/train.py configs/cls/<config>.py --resume            # latest checkpoint
    bash tools/dist_train.sh configs/cls/<config>.py 8                 # 8 processes

Importing scalenet_mm registers its models into both codebases and the trusted local
checkpoint loader (resume on torch >= 2.6); the config's ``default_scope`` picks the
registries. Without a GPU, ``--launcher pytorch`` trains on CPU processes (gloo).
"""
import argparse

from mmengine.config import Config, DictAction

import scalenet_mm  # noqa: F401  (registers models, hooks and the checkpoint loader)
from scalenet_mm.runtime import (build_runner, enable_amp, enable_auto_scale_lr,
                                 export_local_rank, set_launcher, set_resume, set_work_dir,
                                 shutdown_distributed)


def parse_args() -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(description='Train a model (mmpretrain or mmdet config)')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='where logs and checkpoints go '
                        '(default: cfg.work_dir, else work_dirs/<config name>)')
    parser.add_argument('--resume', nargs='?', type=str, const='auto',
                        help='resume from this checkpoint; without a value, from the latest '
                        'checkpoint in the work dir')
    parser.add_argument('--amp', action='store_true',
                        help='automatic mixed precision (needs a GPU)')
    parser.add_argument('--auto-scale-lr', action='store_true',
                        help='scale the lr by actual total batch size / '
                        'auto_scale_lr.base_batch_size')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config keys, e.g. train_cfg.max_iters=100 '
                        'optim_wrapper.optimizer.lr=0.01')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
                        default='none', help='job launcher')
    # torch.distributed.launch passed --local-rank; torchrun sets LOCAL_RANK instead.
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0,
                        help=argparse.SUPPRESS)
    return parser.parse_args()


def main() -> None:
    """Build the config from the arguments and train."""
    args = parse_args()
    export_local_rank(args.local_rank)

    cfg = Config.fromfile(args.config)
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    set_launcher(cfg, args.launcher)
    set_work_dir(cfg, args.config, args.work_dir)
    set_resume(cfg, args.resume)
    if args.amp:
        enable_amp(cfg)
    if args.auto_scale_lr:
        enable_auto_scale_lr(cfg)

    runner = build_runner(cfg, mode='train')
    runner.train()
    shutdown_distributed()  # ranks leave together (see its docstring)


if __name__ == '__main__':
    main()
