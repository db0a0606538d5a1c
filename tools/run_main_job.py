"""The main job, offline on CPUs: pretrain a small ViT on Fashion-MNIST, scale it 2x with
ScaleNet, train further, evaluate both, print a table.

Steps (each one a run of the project's own tools on configs under ``configs/cls/fashion_mnist``):

0. data: the four Fashion-MNIST IDX files into ``--data-root`` (from the Debian package
   ``dataset-fashion-mnist``, a ``dpkg -x`` copy, or mmpretrain's download as a last resort);
1. ``tools/train.py vit_L4_fmnist.py``: a plain ViT of L layers trained from scratch;
2. its last checkpoint published (weights and plain meta only, sha256 in the name);
3. ``tools/train.py scalenet_2x_fmnist.py``: the L pretrained layers run as 2L instances
   (cyclic map, per-instance LoRA); backbone and head start from step 2's file;
4. ``tools/train.py vit_L4_continue_fmnist.py`` (skipped with ``--no-baseline``): the
   L-layer model trained just as long as step 3, without expansion, so that "deeper" and
   "trained longer" can be told apart;
5. ``tools/test.py`` on every trained model (all 10,000 test images by default).

Everything lands in ``--work-dir`` (default ``work_dirs/quickstart``): one folder per step
with mmengine's logs and checkpoints, ``pretrained/``, ``results.json`` and ``results.md``.
Re-running is safe: a step whose options are unchanged and whose final checkpoint exists
is reused, an interrupted one resumes (``--resume``), one whose options changed starts
again; ``--fresh`` starts everything again.

Usage::

    python tools/run_main_job.py                       # defaults: about 10 minutes on 2 cores
    python tools/run_main_job.py --layers 6 --embed-dims 96 --heads 3 --train-size 20000
    python tools/run_main_job.py --train-size 512 --test-size 500 --pretrain-epochs 1 ...
"""
import argparse
import glob
import json
import os
import os.path as osp
import shutil
import subprocess
import sys
import time
from typing import Any, Dict, List, Optional, Sequence

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIG_DIR = osp.join('configs', 'cls', 'fashion_mnist')
PRETRAIN_CONFIG = osp.join(CONFIG_DIR, 'vit_L4_fmnist.py')
SCALE_CONFIG = osp.join(CONFIG_DIR, 'scalenet_2x_fmnist.py')
BASELINE_CONFIG = osp.join(CONFIG_DIR, 'vit_L4_continue_fmnist.py')
#: Where ``dpkg -x`` of the Debian package puts the files (tools/quickstart.sh, no root).
LOCAL_DEB_DIR = osp.join('data', 'debian', 'usr', 'share', 'datasets', 'fashion-mnist')
OPTIONS_FILE = 'main_job_options.json'


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
    group.add_argument('--layers', type=int, default=4, help='L, layers of the pretrained ViT')
    group.add_argument('--embed-dims', type=int, default=64)
    group.add_argument('--heads', type=int, default=4)
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
    group.add_argument('--train-size', type=int, default=20000,
                       help='first N of the 60,000 training images')
    group.add_argument('--val-size', type=int, default=1000,
                       help='test images evaluated after each epoch during training')
    group.add_argument('--test-size', type=int, default=10000,
                       help='test images evaluated by tools/test.py at the end')
    group.add_argument('--pretrain-epochs', type=int, default=4)
    group.add_argument('--scale-epochs', type=int, default=3)
    group.add_argument('--batch-size', type=int, default=64)
    group.add_argument('--seed', type=int, default=0)
    parser.add_argument('--no-baseline', dest='baseline', action='store_false',
                        help='skip the control: the L-layer model trained --scale-epochs '
                        'more epochs without expansion (tells "deeper" from "trained longer")')
    parser.add_argument('--fresh', action='store_true', help='delete --work-dir first')
    args = parser.parse_args(argv)
    for name in ('layers', 'embed_dims', 'heads', 'mlp_ratio', 'patch_size', 'train_size',
                 'val_size',
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
    if args.test_size > 10000 or args.val_size > 10000 or args.train_size > 60000:
        parser.error('Fashion-MNIST has 60,000 training and 10,000 test images')
    return args


# ---------------------------------------------------------------------- config overrides
def model_options(args: argparse.Namespace) -> List[str]:
    """``--cfg-options`` for the ViT sizes shared by every step."""
    return [
        f'model.backbone.arch.embed_dims={args.embed_dims}',
        f'model.backbone.arch.num_layers={args.layers}',
        f'model.backbone.arch.num_heads={args.heads}',
        f'model.backbone.arch.feedforward_channels={args.embed_dims * args.mlp_ratio}',
        f'model.head.in_channels={args.embed_dims}',
        f'model.backbone.patch_size={args.patch_size}',
    ]


def data_options(args: argparse.Namespace) -> List[str]:
    """``--cfg-options`` for the data root, subsets, batch size and seed."""
    return [
        f'train_dataloader.dataset.data_root={args.data_root}',
        f'val_dataloader.dataset.data_root={args.data_root}',
        f'test_dataloader.dataset.data_root={args.data_root}',
        f'train_dataloader.dataset.indices={args.train_size}',
        f'val_dataloader.dataset.indices={args.val_size}',
        f'test_dataloader.dataset.indices={args.test_size}',
        f'train_dataloader.batch_size={args.batch_size}',
        f'randomness.seed={args.seed}',
    ]


def scale_options(args: argparse.Namespace, pretrained: str) -> List[str]:
    """``--cfg-options`` of step 3: depth factor, adapter, gates and the pretrained file."""
    if args.lora_rank > 0:
        adapter = [f'model.backbone.adapter.rank={args.lora_rank}']
    else:
        adapter = ['model.backbone.adapter=None']
    gate = ['model.backbone.gate_inserted=True'] if args.gate_inserted else []
    return [f'model.backbone.depth={args.scale}', *adapter, *gate, *init_options(pretrained)]


def init_options(pretrained: str) -> List[str]:
    """Load backbone and head from ``pretrained`` (step 2's published file)."""
    return [f'model.backbone.init_cfg.checkpoint={pretrained}',
            f'model.head.init_cfg.checkpoint={pretrained}']


# ---------------------------------------------------------------------- running the tools
def run_tool(argv: List[str]) -> float:
    """Run ``python <tool> ...`` from the repository root, output streamed; return seconds."""
    cmd = [sys.executable, *argv]
    print(f'\n[main job] $ {" ".join(cmd)}', flush=True)
    start = time.time()
    proc = subprocess.run(cmd, cwd=REPO)
    if proc.returncode != 0:
        raise SystemExit(f'[main job] step failed (exit {proc.returncode}): {" ".join(argv)}')
    return time.time() - start


def prepare_stage(stage_dir: str, options: Dict[str, Any], done_file: str) -> str:
    """Decide what to do with a step's folder: ``'skip'``, ``'resume'`` or ``'run'``.

    A folder made with other options (recorded in ``main_job_options.json``) is deleted.
    """
    record = osp.join(stage_dir, OPTIONS_FILE)
    if osp.isdir(stage_dir):
        old = None
        if osp.isfile(record):
            with open(record, encoding='utf-8') as f:
                old = json.load(f)
        if old != options:
            print(f'[main job] {stage_dir} was made with other options; starting it again')
            shutil.rmtree(stage_dir)
    os.makedirs(stage_dir, exist_ok=True)
    with open(record, 'w', encoding='utf-8') as f:
        json.dump(options, f, indent=1)
    if osp.isfile(osp.join(stage_dir, done_file)):
        return 'skip'
    if osp.isfile(osp.join(stage_dir, 'last_checkpoint')):
        return 'resume'
    return 'run'


def train_stage(name: str, config: str, cfg_options: List[str], epochs: int,
                work_dir: str, times: Dict[str, float]) -> str:
    """Train ``config`` into ``work_dir/name`` (or reuse/resume it); return the checkpoint."""
    stage_dir = osp.join(work_dir, name)
    cfg_options = [*cfg_options, f'train_cfg.max_epochs={epochs}']
    done = f'epoch_{epochs}.pth'
    action = prepare_stage(stage_dir, dict(config=config, cfg_options=cfg_options), done)
    times_file = osp.join(stage_dir, 'train_seconds.json')
    if action == 'skip':
        print(f'[main job] reusing {osp.join(stage_dir, done)} (same options)')
    else:
        argv = ['tools/train.py', config, '--work-dir', stage_dir,
                '--cfg-options', *cfg_options]
        if action == 'resume':
            argv.insert(4, '--resume')
        seconds = run_tool(argv)
        with open(times_file, 'w', encoding='utf-8') as f:
            json.dump(dict(seconds=seconds, resumed=action == 'resume'), f)
    if osp.isfile(times_file):
        with open(times_file, encoding='utf-8') as f:
            times[name] = json.load(f)['seconds']
    return osp.join(stage_dir, done)


def test_stage(name: str, config: str, checkpoint: str, cfg_options: List[str],
               work_dir: str) -> Dict[str, float]:
    """Evaluate ``checkpoint`` with ``tools/test.py``; return its metrics and the time."""
    stage_dir = osp.join(work_dir, 'test', name)
    options = dict(config=config, checkpoint=checkpoint, cfg_options=cfg_options,
                   checkpoint_mtime=osp.getmtime(checkpoint))
    metrics_file = 'metrics.json'
    if prepare_stage(stage_dir, options, metrics_file) == 'skip':
        with open(osp.join(stage_dir, metrics_file), encoding='utf-8') as f:
            return json.load(f)
    # The checkpoint is this job's own Runner checkpoint from another stage's work dir:
    # trusted explicitly (tools/test.py unpickles fully only its own work dir otherwise).
    seconds = run_tool(['tools/test.py', config, checkpoint, '--work-dir', stage_dir,
                        '--trust-checkpoint', checkpoint, '--cfg-options', *cfg_options])
    metrics = read_test_metrics(stage_dir)
    metrics['test_seconds'] = seconds
    with open(osp.join(stage_dir, metrics_file), 'w', encoding='utf-8') as f:
        json.dump(metrics, f, indent=1)
    return metrics


def read_test_metrics(stage_dir: str) -> Dict[str, float]:
    """The metrics mmengine's LoggerHook wrote after the test loop (newest run's json)."""
    logs = sorted(glob.glob(osp.join(stage_dir, '*', '*.json')), key=osp.getmtime)
    for path in reversed(logs):
        with open(path, encoding='utf-8') as f:
            for line in f:
                record = json.loads(line)
                if 'accuracy/top1' in record:
                    return {k: v for k, v in record.items() if isinstance(v, (int, float))}
    raise SystemExit(f'[main job] tools/test.py wrote no accuracy under {stage_dir}')


def publish(checkpoint: str, work_dir: str) -> str:
    """Step 2: the weights of ``checkpoint`` as a weights-only file under ``pretrained/``.

    The file name carries its sha256 prefix, so a retrained step 1 yields a new name and
    every later step sees that its input changed; ``pretrained/vit_L.pth`` links to it (the
    path the configs name by default).
    """
    from scalenet_mm.checkpoint import publish_checkpoint
    out_dir = osp.join(work_dir, 'pretrained')
    record = osp.join(out_dir, 'source.json')
    source = dict(checkpoint=checkpoint, mtime=osp.getmtime(checkpoint))
    if osp.isfile(record):
        with open(record, encoding='utf-8') as f:
            old = json.load(f)
        if old.get('source') == source and osp.isfile(old.get('published', '')):
            return old['published']
    shutil.rmtree(out_dir, ignore_errors=True)
    # Our own Runner checkpoint from step 1: full unpickling is safe here.
    published = publish_checkpoint(checkpoint, osp.join(out_dir, 'vit_L.pth'),
                                   allow_pickle=True)
    # A stable name too, the configs' default ``pretrained`` path.
    stable = osp.join(out_dir, 'vit_L.pth')
    os.symlink(osp.basename(published), stable)
    with open(record, 'w', encoding='utf-8') as f:
        json.dump(dict(source=source, published=published), f)
    return published


# ---------------------------------------------------------------------- report
def count_parameters(config: str, cfg_options: List[str]) -> Dict[str, int]:
    """Unique parameters of the classifier ``config`` builds (each shared tensor once)."""
    from mmengine.config import Config, DictAction
    from mmpretrain.registry import MODELS

    import scalenet_mm  # noqa: F401  (registers ScaleNetViT)
    cfg = Config.fromfile(osp.join(REPO, config))
    parser = argparse.ArgumentParser()
    parser.add_argument('--o', nargs='+', action=DictAction)
    cfg.merge_from_dict(parser.parse_args(['--o', *cfg_options]).o)
    model = MODELS.build(cfg.model)  # init_cfg is not applied: nothing is loaded
    counts = dict(total=sum(p.numel() for p in model.parameters()))
    if hasattr(model.backbone, 'count_parameters'):
        counts.update({f'backbone_{k}': v for k, v in model.backbone.count_parameters().items()})
    return counts


def fmt_time(seconds: Optional[float]) -> str:
    """``'3m05s'`` (or ``'-'`` when unknown)."""
    if seconds is None:
        return '-'
    return f'{int(seconds // 60)}m{int(round(seconds % 60)):02d}s'


def render_table(rows: List[Dict[str, Any]], test_size: int) -> str:
    """A Markdown table of the runs."""
    lines = [f'| model | layers run (stored) | unique params | top-1 on {test_size} test '
             f'images | training time | test time |',
             '|---|---|---|---|---|---|']
    for row in rows:
        lines.append(f'| {row["model"]} | {row["layers"]} | {row["params"]:,} | '
                     f'{row["top1"]:.2f} | {row["train"]} | {fmt_time(row["test_seconds"])} |')
    return '\n'.join(lines)


def main(argv: Optional[Sequence[str]] = None) -> None:
    """Run the steps, then print and save the comparison."""
    args = parse_args(argv)
    # The tools run from the repository root: make the user's paths independent of it.
    args.work_dir = osp.abspath(args.work_dir)
    args.data_root = osp.abspath(args.data_root)
    args.data_source = [osp.abspath(p) for p in args.data_source]
    os.chdir(REPO)
    start = time.time()
    if args.fresh and osp.isdir(args.work_dir):
        shutil.rmtree(args.work_dir)
    os.makedirs(args.work_dir, exist_ok=True)

    from scalenet_mm.datasets.fashion_mnist import prepare_fashion_mnist
    print(f'[main job] step 0: Fashion-MNIST in {args.data_root}', flush=True)
    prepare_fashion_mnist(args.data_root, [*args.data_source, LOCAL_DEB_DIR],
                          download=not args.no_download)

    common = [*model_options(args), *data_options(args)]
    times: Dict[str, float] = {}
    L, deep = args.layers, int(round(args.layers * args.scale))
    print(f'[main job] step 1: pretrain a ViT of {L} layers', flush=True)
    base_ckpt = train_stage('vit_L', PRETRAIN_CONFIG, common, args.pretrain_epochs,
                            args.work_dir, times)
    pretrained = publish(base_ckpt, args.work_dir)
    print(f'[main job] step 2: published {pretrained}', flush=True)
    print(f'[main job] step 3: ScaleNet {args.scale:g}x ({deep} instances of {L} layers)',
          flush=True)
    scale_cfg = [*common, *scale_options(args, pretrained)]
    scale_ckpt = train_stage('scalenet', SCALE_CONFIG, scale_cfg, args.scale_epochs,
                             args.work_dir, times)
    runs = [('vit_L', f'ViT (step a), {args.pretrain_epochs} ep', PRETRAIN_CONFIG, base_ckpt,
             common, f'{L} ({L})', times.get('vit_L')),
            ('scalenet', f'ScaleNet {args.scale:g}x of it (step b), +{args.scale_epochs} ep',
             SCALE_CONFIG, scale_ckpt, scale_cfg, f'{deep} ({L})', times.get('scalenet'))]
    if args.baseline:
        print(f'[main job] step 4: control, the {L}-layer ViT trained {args.scale_epochs} '
              f'more epochs without expansion', flush=True)
        base_cfg = [*common, *init_options(pretrained)]
        cont_ckpt = train_stage('vit_L_continued', BASELINE_CONFIG, base_cfg,
                                args.scale_epochs, args.work_dir, times)
        runs.append(('vit_L_continued', f'ViT, +{args.scale_epochs} ep, not expanded (control)',
                     BASELINE_CONFIG, cont_ckpt, base_cfg, f'{L} ({L})',
                     times.get('vit_L_continued')))

    print('[main job] step 5: evaluate with tools/test.py', flush=True)
    rows = []
    for name, label, config, ckpt, cfg_options, layers, train_s in runs:
        metrics = test_stage(name, config, ckpt, cfg_options, args.work_dir)
        params = count_parameters(config, cfg_options)
        rows.append(dict(name=name, model=label, layers=layers, params=params['total'],
                         params_detail=params, top1=metrics['accuracy/top1'],
                         train=fmt_time(train_s), train_seconds=train_s,
                         test_seconds=metrics.get('test_seconds'), checkpoint=ckpt))
    table = render_table(rows, args.test_size)
    total = time.time() - start
    base_params = rows[0]['params']
    added = rows[1]['params'] - base_params
    summary = (f'{table}\n\nScaleNet adds {added:,} parameters ({100 * added / base_params:.1f}% '
               f'of the {L}-layer model) for {deep - L} more layers run; its training time '
               f'comes on top of step (a), whose weights it starts from. Wall time of this '
               f'run: {fmt_time(total)}. Work dir: {args.work_dir}')
    print('\n[main job] results\n' + summary, flush=True)
    with open(osp.join(args.work_dir, 'results.md'), 'w', encoding='utf-8') as f:
        f.write(summary + '\n')
    with open(osp.join(args.work_dir, 'results.json'), 'w', encoding='utf-8') as f:
        json.dump(dict(rows=rows, wall_seconds=total, args=vars(args)), f, indent=1)


if __name__ == '__main__':
    main()
