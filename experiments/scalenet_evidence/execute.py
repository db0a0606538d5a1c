"""Run the experiment's training runs as ``tools/train.py`` subprocesses.

Runs of different seeds and arms are independent except that every growth arm waits for its
seed's pretrained run, whose last checkpoint initialises it. Up to ``jobs`` subprocesses
run at once, each limited to ``threads`` CPU threads (small ViTs on a CPU use two
single-thread processes better than one two-thread process). A finished run leaves
``result.json`` in its work dir; a later invocation with the same settings reuses it, so an
interrupted experiment continues where it stopped.
"""
import json
import os
import os.path as osp
import shutil
import subprocess
import sys
import time
from typing import Any, Callable, Dict, List, Optional

from mmengine.config import Config
from mmengine.registry import init_default_scope

from scalenet_mm.engine.atomic_checkpoint import atomic_write

from .experiment import CONFIG_DIR, REPO_ROOT, STACKING_SOURCE, Run, Settings, init_options
from .logs import read_accuracy_curve
from .stacking import make_stacked_checkpoint

RESULT_FILE = 'result.json'
LOG_FILE = 'train.out'


def format_option(key: str, value: Any) -> str:
    """One ``--cfg-options`` item as mmengine's ``DictAction`` parses it back."""
    if isinstance(value, bool):
        return f'{key}={value}'
    if isinstance(value, (list, tuple)):
        return f'{key}=[{",".join(str(v) for v in value)}]'
    return f'{key}={value}'


def train_command(run: Run, python: str = sys.executable) -> List[str]:
    """The ``tools/train.py`` command line of a run."""
    options = [format_option(k, v) for k, v in run.cfg_options.items()]
    return [python, osp.join(REPO_ROOT, 'tools', 'train.py'), run.config, '--work-dir',
            run.work_dir, '--cfg-options', *options]


def last_checkpoint(work_dir: str) -> str:
    """The checkpoint a finished run saved last (mmengine's ``last_checkpoint`` pointer)."""
    pointer = osp.join(work_dir, 'last_checkpoint')
    if not osp.isfile(pointer):
        raise FileNotFoundError(f'{pointer} is missing: the run in {work_dir} saved no checkpoint')
    with open(pointer) as f:
        path = f.read().strip()
    if not osp.isfile(path):
        raise FileNotFoundError(f'{pointer} names {path!r}, which does not exist')
    return path


def count_parameters(config: str, cfg_options: Dict[str, Any]) -> Dict[str, int]:
    """Unique parameters (a shared tensor once) of the model a config builds, head included."""
    from mmpretrain.registry import MODELS

    from scalenet_mm.utils.complexity import count_unique_parameters

    cfg = Config.fromfile(config)
    cfg.merge_from_dict(cfg_options)
    init_default_scope(cfg.get('default_scope', 'mmpretrain'))
    model = MODELS.build(cfg.model)
    counts = count_unique_parameters(model)
    backbone = model.backbone
    if hasattr(backbone, 'count_parameters'):
        counts['per_instance'] = int(backbone.count_parameters()['per_instance'])
    return counts


def load_result(run: Run, fingerprint: str) -> Optional[Dict[str, Any]]:
    """The run's saved result when it finished with the same settings, else None."""
    path = osp.join(run.work_dir, RESULT_FILE)
    if not osp.isfile(path):
        return None
    with open(path) as f:
        result = json.load(f)
    if result.get('status') != 'ok' or result.get('fingerprint') != fingerprint:
        return None
    return result


class Executor:
    """Launches runs when their dependency is done, at most ``jobs`` at a time.

    Args:
        runs: the planned runs (``plan_runs``).
        settings: the experiment sizes (their fingerprint marks reusable results).
        jobs: concurrent subprocesses.
        threads: ``OMP_NUM_THREADS`` / ``MKL_NUM_THREADS`` of each subprocess.
        reuse: take finished runs' ``result.json`` instead of training again.
        log: receives one line per event.
    """

    def __init__(self, runs: List[Run], settings: Settings, jobs: int = 2, threads: int = 1,
                 reuse: bool = True, log: Callable[[str], None] = print) -> None:
        self.runs = {run.name: run for run in runs}
        self.settings = settings
        self.jobs = max(1, jobs)
        self.threads = max(1, threads)
        self.reuse = reuse
        self.log = log
        self.results: Dict[str, Dict[str, Any]] = {}

    def _env(self) -> Dict[str, str]:
        env = dict(os.environ)
        env['OMP_NUM_THREADS'] = str(self.threads)
        env['MKL_NUM_THREADS'] = str(self.threads)
        return env

    def _prepare(self, run: Run) -> None:
        """Point a growth run at its seed's pretrained checkpoint (stacked copy if needed)."""
        if run.depends_on is None:
            return
        pretrained = last_checkpoint(self.runs[run.depends_on].work_dir)
        if run.arm.init == 'pretrained':
            run.cfg_options.update(init_options(pretrained))
            return
        # 'stacked': export the unshared 2L copy of the pretrained model once per seed
        source_options = dict(run.cfg_options)
        source_options['model.backbone.arch.num_layers'] = self.settings.layers
        source_options.update(init_options(pretrained))
        stacked = osp.join(run.work_dir, 'stacked_init.pth')
        make_stacked_checkpoint(osp.join(CONFIG_DIR, STACKING_SOURCE), source_options, stacked,
                                meta=dict(pretrained=pretrained, seed=run.seed))
        run.cfg_options.update(init_options(stacked))
        self.log(f'[{run.name}] stacked checkpoint {stacked} (from {pretrained})')

    def _finish(self, run: Run, returncode: int, wall: float, cpu: float) -> Dict[str, Any]:
        result: Dict[str, Any] = dict(
            run=run.name, arm=run.arm.name, seed=run.seed,
            fingerprint=self.settings.fingerprint(run.arm),
            config=run.config, cfg_options=run.cfg_options, wall_s=round(wall, 1),
            cpu_s=round(cpu, 1),
            returncode=returncode, status='ok' if returncode == 0 else 'failed',
            log=osp.join(run.work_dir, LOG_FILE))
        if returncode == 0:
            curve = read_accuracy_curve(run.work_dir)
            result['curve'] = curve
            result['final_top1'] = curve[-1][1] if curve else None
            try:
                result['params'] = count_parameters(run.config, run.cfg_options)
            except Exception as error:  # the accuracy is valid even if counting fails
                result['params'] = None
                result['params_error'] = f'{type(error).__name__}: {error}'
            if not curve:
                result['status'] = 'failed'
                result['error'] = 'no test accuracy in the scalar log'
        # atomic: a kill while writing must not leave a half file that a rerun cannot read
        atomic_write(osp.join(run.work_dir, RESULT_FILE), json.dumps(result, indent=1))
        return result

    def _reuse_finished(self, pending: List[Run]) -> None:
        """Take the saved results of runs that already finished with these settings."""
        if not self.reuse:
            return
        for run in list(pending):
            old = load_result(run, self.settings.fingerprint(run.arm))
            if old is not None:
                self.results[run.name] = old
                pending.remove(run)
                self.log(f'[{run.name}] reused: top-1 {old["final_top1"]:.2f}')

    def _start_ready(self, pending: List[Run], active: Dict[str, Any]) -> None:
        """Start pending runs whose dependency is done, while slots are free."""
        for run in list(pending):
            dep = run.depends_on
            if dep is not None and dep in self.results and self.results[dep]['status'] != 'ok':
                pending.remove(run)
                self.results[run.name] = dict(run=run.name, arm=run.arm.name, seed=run.seed,
                                              status='skipped', error=f'{dep} did not finish')
                self.log(f'[{run.name}] skipped: {dep} did not finish')
                continue
            if len(active) >= self.jobs or (dep is not None and dep not in self.results):
                continue
            pending.remove(run)
            # not reusable: whatever an earlier, interrupted or outdated attempt left is stale
            shutil.rmtree(run.work_dir, ignore_errors=True)
            os.makedirs(run.work_dir)
            try:
                self._prepare(run)
            except Exception as error:  # a broken init must not stop the other runs
                self.results[run.name] = dict(run=run.name, arm=run.arm.name, seed=run.seed,
                                              status='failed',
                                              error=f'{type(error).__name__}: {error}')
                self.log(f'[{run.name}] failed to prepare: {error}')
                continue
            out = open(osp.join(run.work_dir, LOG_FILE), 'w')
            process = subprocess.Popen(train_command(run), stdout=out, stderr=subprocess.STDOUT,
                                       env=self._env(), cwd=REPO_ROOT)
            active[run.name] = (run, process, out, time.time())
            self.log(f'[{run.name}] started (pid {process.pid})')

    def _collect_finished(self, active: Dict[str, Any]) -> None:
        """Record the results of subprocesses that have exited."""
        for name, (run, process, out, start) in list(active.items()):
            # wait4 (not Popen.poll) to get the run's CPU time: wall time depends on the load
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid == 0:
                continue
            code = os.waitstatus_to_exitcode(status)
            process.returncode = code
            out.close()
            del active[name]
            result = self._finish(run, code, time.time() - start, usage.ru_utime + usage.ru_stime)
            self.results[name] = result
            if result['status'] == 'ok':
                self.log(f'[{name}] done in {result["wall_s"]:.0f} s '
                         f'({result["cpu_s"]:.0f} s CPU): top-1 {result["final_top1"]:.2f}')
            else:
                self.log(f'[{name}] FAILED (exit {code}); see {result["log"]}')

    def run_all(self) -> Dict[str, Dict[str, Any]]:
        """Run (or reuse) every run; returns ``{run name: result}`` (failed runs included).

        On an interruption the subprocesses this executor started are terminated.
        """
        pending = list(self.runs.values())
        active: Dict[str, Any] = {}
        self._reuse_finished(pending)
        try:
            while pending or active:
                self._start_ready(pending, active)
                self._collect_finished(active)
                if active:
                    time.sleep(1.0)
        finally:
            for run, process, out, _ in active.values():
                process.terminate()
                process.wait()
                out.close()
        return self.results
