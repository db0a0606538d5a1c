"""Train a model from an mmpretrain or mmdet config (OpenMMLab's tools/train.py options).

Examples::

    python tools/train.py configs/cls/<config>.py
    python tools/train.py configs/cls/<config>.py --resume            # latest checkpoint
    bash tools/dist_train.sh configs/cls/<config>.py 8                 # 8 processes

Importing scalenet_mm registers its models, hooks and transforms into both codebases; the
config's ``default_scope`` picks the registries. Once the work dir is known this tool
switches the project's fixes on (``scalenet_mm.runtime.install``: atomic local writes,
resume of the Runner's own checkpoints in the work dir on torch >= 2.6, verified downloads;
see docs/stack_fixes.md). Without a GPU, ``--launcher pytorch`` trains on CPU processes
(gloo).
"""
import argparse

from mmengine.config import Config, DictAction

import scalenet_mm  # noqa: F401  (registers models, hooks and transforms)
from scalenet_mm.runtime import (build_runner, enable_amp, enable_auto_scale_lr,
                                 enable_compile, export_local_rank, install, set_launcher,
                                 set_resume, set_work_dir, shutdown_distributed)
from scalenet_mm.runtime.options import AMP_DTYPES


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
                        help='automatic mixed precision: float16 with a dynamic loss scale '
                        '(mmengine AmpOptimWrapper; needs a GPU)')
    parser.add_argument('--amp-dtype', choices=AMP_DTYPES,
                        help='mixed precision in this dtype (implies --amp). bfloat16 needs '
                        'no loss scale and also runs on CPU (autocast)')
    parser.add_argument('--compile', action='store_true',
                        help='torch.compile the train step (mmengine cfg.compile=True; '
                        'options through --cfg-options compile.backend=...)')
    parser.add_argument('--trust-checkpoint', action='append', default=[], metavar='PATH',
                        help='unpickle this local checkpoint file (or every file below this '
                        'folder) fully, like the run\'s own work dir; only for files you '
                        'wrote yourself. Repeatable')
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
    if args.amp or args.amp_dtype:
        enable_amp(cfg, args.amp_dtype)
    if args.compile:
        enable_compile(cfg)
    if args.auto_scale_lr:
        enable_auto_scale_lr(cfg)
    install(work_dir=cfg.work_dir, trusted=args.trust_checkpoint)

    runner = build_runner(cfg, mode='train')
    runner.train()
    shutdown_distributed()  # ranks leave together (see its docstring)


if __name__ == '__main__':
    main()
