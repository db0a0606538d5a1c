"""The detection experiment in one call: data, runs, report (:func:`run_det_experiment`)."""
import json
import os
import os.path as osp
import time
from dataclasses import asdict, dataclass
from typing import Any, Callable, Dict, List, Optional, Sequence

from scalenet_mm.engine.atomic_checkpoint import atomic_write

from .execute import Data, DetExecutor
from .plan import ARMS, PRETRAIN_VAL_SIZE, PUBLISHED_NAMES, DetArm, DetSettings, plan_runs
from .report import check_claims, markdown_report, picture_sheet, plot_curves, summarise


@dataclass
class DetOutcome:
    """What :func:`run_det_experiment` produced."""
    report: str
    results: Dict[str, Dict[str, Any]]
    failed: List[str]
    files: Dict[str, Optional[str]]


def prepare_data(settings: DetSettings, work_dir: str,
                 sources: Sequence[str] = ()) -> Data:
    """Fashion-MNIST's IDX files for pretraining, the canvases of canvas pretraining, and the
    generated detection set (each reused when already generated with the same parameters)."""
    from scalenet_mm.datasets.fashion_mnist import prepare_fashion_mnist
    from scalenet_mm.testing import first_images, generate_fashion_mnist_det

    fmnist = prepare_fashion_mnist(osp.join(work_dir, 'data', 'fashion_mnist'), sources)
    root = osp.join(work_dir, 'data', 'fashion_mnist_det')
    kwargs = dict(image_size=settings.image, objects_per_image=tuple(settings.objects),
                  scale_range=tuple(settings.scale), source_dirs=[fmnist])
    train = generate_fashion_mnist_det(root, 'train', settings.num_train, seed=0, **kwargs)
    val = generate_fashion_mnist_det(root, 'val', settings.num_val, seed=1, **kwargs)
    vit_pretrain_root = None
    if settings.pretrain_input == 'canvas':
        from .canvas_pretrain import write_canvas_classification
        vit_pretrain_root = write_canvas_classification(
            osp.join(work_dir, 'data', f'canvas_{settings.pretrain_side}'),
            settings.pretrain_side, tuple(settings.scale),
            train_size=settings.pretrain_size or 60000, test_size=PRETRAIN_VAL_SIZE,
            source_dirs=[fmnist])
    return Data(train=train, val=val, curve=first_images(val, settings.curve_val),
                fmnist_root=fmnist, vit_pretrain_root=vit_pretrain_root)


def run_det_experiment(settings: DetSettings, work_dir: str, command: str,
                       arms: Sequence[DetArm] = ARMS, jobs: int = 1, threads: int = 2,
                       reuse: bool = True, sources: Sequence[str] = (),
                       log: Callable[[str], None] = print) -> DetOutcome:
    """Run (or reuse, or resume) every run of ``arms`` x ``settings.seeds`` and write
    ``results.md``, ``results.json``, ``map_curve.png`` and ``predictions.png`` (atomically)
    into ``work_dir``."""
    settings.validate()
    work_dir = osp.abspath(work_dir)
    runs = plan_runs(settings, work_dir, tuple(arms))  # refuses impossible arms before any I/O
    os.makedirs(work_dir, exist_ok=True)
    start = time.time()
    data = prepare_data(settings, work_dir, sources)
    log(f'data: {data.train.num_images} train canvases ({data.train.num_objects} garments), '
        f'{data.val.num_images} val ({data.val.num_objects}) under {data.train.data_root}')
    log(f'{command}\n  {len(runs)} runs, {jobs} at a time, {threads} thread(s) each; '
        f'{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}')
    results = DetExecutor(runs, settings, data, jobs=jobs, threads=threads, reuse=reuse,
                          log=log).run_all()
    elapsed = time.time() - start
    summary = summarise(results, arms)
    claims = check_claims(summary)
    files: Dict[str, Optional[str]] = dict(
        plot=plot_curves(results, arms, settings, osp.join(work_dir, 'map_curve.png')),
        pictures=picture_sheet(results, arms, osp.join(work_dir, 'predictions.png')),
        report=osp.join(work_dir, 'results.md'), json=osp.join(work_dir, 'results.json'))
    notes = [f'Wall time of this invocation: {elapsed / 60:.1f} min ({jobs} run(s) at a time, '
             f'{threads} thread(s) each; reused runs take no time); load average at the end '
             f'{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs.',
             'train wall: tools/train.py (the curve evaluations included); test wall: '
             'tools/test.py on all val canvases with --show-dir.']
    pretrain = {name: r.get('val_top1') for name, r in results.items()
                if r.get('arm') in (*PUBLISHED_NAMES, 'swin_pretrain')}  # the classifier runs
    if pretrain:
        notes.append(f'Classifier pretraining, val top-1 (first {PRETRAIN_VAL_SIZE:,} test '
                     f'images): {pretrain}')
    report = markdown_report(summary, claims, arms, settings, command, files, notes)
    atomic_write(files['report'], report)
    atomic_write(files['json'], json.dumps(dict(
        settings=asdict(settings), arms=[a.name for a in arms], command=command,
        elapsed_s=round(elapsed, 1), summary=summary, claims=claims, runs=results), indent=1))
    log(f'wrote {files["report"]} ({elapsed / 60:.1f} min)')
    failed = sorted(name for name, r in results.items() if r.get('status') != 'ok')
    return DetOutcome(report=report, results=results, failed=failed, files=files)
