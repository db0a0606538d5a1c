"""Test (and evaluate) a checkpoint with an mmpretrain or mmdet config.

Examples::

    python tools/test.py configs/cls/<config>.py work_dirs/<config>/iter_1000.pth
    python tools/test.py <det config>.py <ckpt>.pth --out preds.pkl --show-dir vis/
    bash tools/dist_test.sh <config>.py <ckpt>.pth 8

The metrics of the config's ``test_evaluator`` (top-1/top-5 accuracy, COCO AP, ...) are
printed at the end and written to the work dir.

The project's fixes are switched on (``scalenet_mm.runtime.install``, docs/stack_fixes.md).
A Runner checkpoint (optimizer and message-hub objects) is unpickled fully only when it lies
in the work dir (default ``work_dirs/<config name>``, where tools/train.py writes) or is
named with ``--trust-checkpoint``; any other file loads weights-only.

``--amp`` tests in mixed precision as mmpretrain's and mmdet's tools do (``test_cfg.fp16=True``:
mmengine's test loop runs under autocast, float16 on a GPU, bfloat16 on CPU). ``--compile``
runs the test step through ``torch.compile`` (torch's default backend, or the options of a
``compile`` dict in the config, e.g. ``--cfg-options compile.backend=eager``); mmengine 0.10.7
compiles only in ``Runner.train``, so this tool compiles ``test_step`` itself once the Runner is
built (``scalenet_mm.runtime.options.compile_test_step``).
"""
import argparse

from mmengine.config import Config, DictAction

import scalenet_mm  # noqa: F401  (registers models, hooks and transforms)
from scalenet_mm.runtime import (add_dump_results, build_runner, check_dump_file,
                                 enable_visualization, export_local_rank, install,
                                 set_checkpoint, set_launcher, set_work_dir,
                                 shutdown_distributed)
from scalenet_mm.runtime.options import compile_test_step, enable_compile, enable_test_amp


def parse_args() -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(description='Test a checkpoint (mmpretrain or mmdet)')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file (local path or URL)')
    parser.add_argument('--work-dir', help='where the metrics and logs go '
                        '(default: cfg.work_dir, else work_dirs/<config name>)')
    parser.add_argument('--out', help='dump every prediction to this pickle (.pkl)')
    parser.add_argument('--show-dir', help='draw predictions into this directory')
    parser.add_argument('--interval', type=int, default=1,
                        help='draw every N-th test sample (mmpretrain configs; mmdet draws '
                        'every image)')
    parser.add_argument('--show', action='store_true', help='display predictions in a window')
    parser.add_argument('--wait-time', type=float, default=2,
                        help='seconds each image is displayed with --show')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config keys, e.g. test_dataloader.batch_size=8')
    parser.add_argument('--trust-checkpoint', action='append', default=[], metavar='PATH',
                        help='unpickle this local checkpoint file (or every file below this '
                        'folder) fully, e.g. a Runner checkpoint outside the work dir; only '
                        'for files you wrote yourself. Repeatable')
    parser.add_argument('--amp', action='store_true',
                        help='test in mixed precision (test_cfg.fp16=True: autocast, float16 '
                        'on a GPU, bfloat16 on CPU)')
    parser.add_argument('--compile', action='store_true',
                        help='torch.compile the test step (options from a compile dict in the '
                        'config, e.g. --cfg-options compile.backend=eager)')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
                        default='none', help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0,
                        help=argparse.SUPPRESS)
    return parser.parse_args()


def main() -> None:
    """Build the config from the arguments and run the test loop."""
    args = parse_args()
    export_local_rank(args.local_rank)
    if args.out is not None:
        check_dump_file(args.out)

    cfg = Config.fromfile(args.config)
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    set_launcher(cfg, args.launcher)
    set_work_dir(cfg, args.config, args.work_dir)
    set_checkpoint(cfg, args.checkpoint)
    if args.amp:
        enable_test_amp(cfg)
    if args.compile:
        enable_compile(cfg)
    install(work_dir=cfg.work_dir, trusted=args.trust_checkpoint)
    if args.show_dir is not None or args.show:
        enable_visualization(cfg, args.show_dir, show=args.show, wait_time=args.wait_time,
                             interval=args.interval)

    runner = build_runner(cfg, mode='test')
    if args.compile:
        compile_test_step(runner)  # mmengine compiles in Runner.train only
    if args.out is not None:
        add_dump_results(runner, args.out)
    runner.test()
    shutdown_distributed()  # ranks leave together (see its docstring)


if __name__ == '__main__':
    main()
