"""The one driver of the Fashion-MNIST runs: plan, execute, summarise, report.

``experiments/reproduce_scalenet.py`` (the evidence experiment, every arm, several seeds) and
``tools/run_main_job.py`` (the README's main job: the base, ScaleNet and the control, one
seed) both call :func:`run_experiment`; they differ only in their settings and arms.
"""
import json
import os
import os.path as osp
import time
from dataclasses import asdict, dataclass
from typing import Any, Callable, Dict, List, Sequence, Tuple

from scalenet_mm.engine.atomic_checkpoint import atomic_write

from .execute import Executor
from .experiment import ALL_ARMS, ARMS, Arm, Settings, plan_runs
from .plot import plot_curves
from .regime import check_regime
from .report import adapter_study, check_claims, markdown_report, summarise


@dataclass
class Outcome:
    """What :func:`run_experiment` produced: the report text, the per-run results (failed
    runs included) and the files it wrote."""
    report: str
    results: Dict[str, Dict[str, Any]]
    failed: List[str]
    files: Dict[str, str]


def run_experiment(settings: Settings, arms: Sequence[Arm], work_dir: str, data_root: str,
                   command: str, jobs: int = 2, threads: int = 1, reuse: bool = True,
                   log: Callable[[str], None] = print, echo: bool = False,
                   title: str = 'ScaleNet evidence: small ViT on Fashion-MNIST',
                   notes: Sequence[str] = ()) -> Outcome:
    """Run (or reuse, or resume) every run of ``arms`` x ``settings.seeds``; write the report.

    Args:
        settings: sizes and recipe values (validated here).
        arms: the arms to run; the base arm is added when a growth arm needs it.
        work_dir: runs go to ``<work_dir>/runs/<arm>_seed<N>``; ``results.md``,
            ``results.json`` and ``accuracy.png`` next to them (each written atomically).
        data_root: the prepared Fashion-MNIST folder (uncompressed IDX files).
        command: the command line, printed in the report.
        jobs, threads: concurrent runs and CPU threads of each.
        reuse: reuse finished runs and resume interrupted ones (False: train all again).
        log: receives one line per event.
        echo: stream the tools' output (``jobs`` must be 1).
        title: the report's heading.
        notes: extra lines for the report's notes (what the caller's preset does not show).
    """
    settings.validate()
    work_dir = osp.abspath(work_dir)
    os.makedirs(work_dir, exist_ok=True)
    runs = plan_runs(settings, work_dir, data_root, tuple(arms))
    log(f'{command}\n  settings: {asdict(settings)}\n  {len(runs)} runs, {jobs} at a time, '
        f'{threads} thread(s) each; cpu count {os.cpu_count()}, load average '
        f'{os.getloadavg()[0]:.1f}')
    start = time.time()
    results = Executor(runs, settings, jobs=jobs, threads=threads, reuse=reuse, log=log,
                       echo=echo).run_all()
    elapsed = time.time() - start

    names = {run.arm.name for run in runs}
    summaries = summarise(results, settings, arms=tuple(a for a in ALL_ARMS if a.name in names))
    files = dict(plot=osp.join(work_dir, 'accuracy.png'), report=osp.join(work_dir, 'results.md'),
                 json=osp.join(work_dir, 'results.json'))
    plot_curves(summaries, settings, files['plot'])
    notes = [*notes, f'Wall time of this invocation: {elapsed / 60:.1f} min ({jobs} run(s) at a time, '
             f'{threads} thread(s) each; reused runs take no time). Load average at the end: '
             f'{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs.',
             'Wall time per run is the training process (start, data loading and the '
             'per-epoch validation included); concurrent runs share the CPUs.']
    report = markdown_report(summaries, settings, command, osp.basename(files['plot']), notes,
                             title=title)
    atomic_write(files['report'], report)
    atomic_write(files['json'], json.dumps(
        dict(settings=asdict(settings), arms=[arm.name for arm in arms], command=command,
             elapsed_s=elapsed, regime=check_regime(summaries), claims=check_claims(summaries),
             adapter_study=adapter_study(summaries), runs=results), indent=1))
    log(f'wrote {files["report"]} and {files["plot"]} ({elapsed / 60:.1f} min)')
    failed = sorted(name for name, r in results.items() if r.get('status') != 'ok')
    return Outcome(report=report, results=results, failed=failed, files=files)


def arm_choices() -> Tuple[str, ...]:
    """The arm names a command line may select (the Swin arms included)."""
    return tuple(arm.name for arm in ALL_ARMS)


def default_arms() -> Tuple[str, ...]:
    """The arms a command line runs when it names none: every ViT arm (not the Swin ones)."""
    return tuple(arm.name for arm in ARMS)
