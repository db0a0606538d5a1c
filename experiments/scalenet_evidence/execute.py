"""Run the experiment's runs as ``tools/train.py`` and ``tools/test.py`` subprocesses.

Runs of different seeds and arms are independent except that every growth arm waits for its
seed's base run. Each run has two phases in one slot: ``tools/train.py`` (its work dir), then
``tools/test.py`` on the final checkpoint (``<work dir>/test``), whose top-1 is the reported
one. Up to ``jobs`` runs go at once, each limited to ``threads`` CPU threads (small ViTs on a
CPU use two single-thread processes better than one two-thread process).

Files a run leaves in its work dir:

- ``run.json`` (written before training starts): the settings fingerprint, config, options
  and init checkpoint. A later invocation whose run has the same record and a
  ``last_checkpoint`` resumes it (``tools/train.py --resume``), so an experiment killed in the
  middle of a run continues from that run's last epoch; any other leftover is deleted;
- ``result.json`` (written atomically when the run is done): curve, test metrics, times,
  parameter counts. A later invocation with the same settings reuses it; one that only
  changes ``test_size`` re-runs only ``tools/test.py``;
- the base run also publishes its final weights (``published/vit_L-<sha256[:8]>.pth``,
  weights-only, :func:`scalenet_mm.checkpoint.publish_checkpoint`; ``published/vit_L.pth``
  links to it), from which every growth arm of its seed starts, so the growth runs load it
  with ``weights_only=True``.
"""
import json
import os
import os.path as osp
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import IO, Any, Callable, Dict, List, Optional

from mmengine.config import Config
from mmengine.registry import init_default_scope

from scalenet_mm.engine.atomic_checkpoint import atomic_write

from .experiment import REPO_ROOT, STACKING_SOURCE, Run, Settings, init_options
from .logs import read_accuracy_curve, read_test_metrics
from .stacking import make_stacked_checkpoint

RESULT_FILE = 'result.json'
RECORD_FILE = 'run.json'
LOG_FILE = 'train.out'
TEST_LOG_FILE = 'test.out'
TEST_DIR = 'test'


def format_option(key: str, value: Any) -> str:
    """One ``--cfg-options`` item as mmengine's ``DictAction`` parses it back."""
    if isinstance(value, (list, tuple)):
        return f'{key}=[{",".join(str(v) for v in value)}]'
    return f'{key}={value}'  # bools and None print as True/False/None, which it parses


def train_command(run: Run, resume: bool = False, python: str = sys.executable) -> List[str]:
    """The ``tools/train.py`` command line of a run."""
    options = [format_option(k, v) for k, v in run.cfg_options.items()]
    return [python, osp.join(REPO_ROOT, 'tools', 'train.py'), run.config, '--work-dir',
            run.work_dir, *(['--resume'] if resume else []), '--cfg-options', *options]


def test_command(run: Run, checkpoint: str, python: str = sys.executable) -> List[str]:
    """The ``tools/test.py`` command line of a run's final checkpoint.

    The checkpoint is this experiment's own Runner checkpoint from the training work dir, so
    it is trusted explicitly (``tools/test.py`` fully unpickles only its own work dir).
    """
    options = [format_option(k, v) for k, v in run.cfg_options.items()]
    return [python, osp.join(REPO_ROOT, 'tools', 'test.py'), run.config, checkpoint,
            '--work-dir', osp.join(run.work_dir, TEST_DIR), '--trust-checkpoint', checkpoint,
            '--cfg-options', *options]


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
    model = MODELS.build(cfg.model)  # init_cfg is not applied: nothing is loaded
    counts = count_unique_parameters(model)
    backbone = model.backbone
    if hasattr(backbone, 'count_parameters'):
        counts['per_instance'] = int(backbone.count_parameters()['per_instance'])
    return counts


def read_json(path: str) -> Optional[Dict[str, Any]]:
    """A JSON file's content, or None when it is missing or unreadable (a stale leftover)."""
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def publish_base(run: Run) -> str:
    """The base run's final weights as a weights-only file (reused when already published)."""
    from scalenet_mm.checkpoint import publish_checkpoint

    source = last_checkpoint(run.work_dir)
    out_dir = osp.join(run.work_dir, 'published')
    record = read_json(osp.join(out_dir, 'source.json'))
    source_info = dict(checkpoint=source, mtime=osp.getmtime(source))
    if record and record.get('source') == source_info and osp.isfile(record['published']):
        return record['published']
    shutil.rmtree(out_dir, ignore_errors=True)
    # Our own Runner checkpoint (optimizer state, mmengine objects): full unpickling is safe.
    published = publish_checkpoint(source, osp.join(out_dir, 'vit_L.pth'), allow_pickle=True)
    # A stable name too: the recipe configs' default ``pretrained`` path (the main job's run).
    os.symlink(osp.basename(published), osp.join(out_dir, 'vit_L.pth'))
    atomic_write(osp.join(out_dir, 'source.json'),
                 json.dumps(dict(source=source_info, published=published)))
    return published


@dataclass
class _Active:
    """A run in progress: its current subprocess and phase."""
    run: Run
    phase: str = 'train'  # then 'test'
    process: Optional[subprocess.Popen] = None
    out: Optional[IO[str]] = None
    start: float = 0.0
    result: Optional[Dict[str, Any]] = None  # the training result, once trained


class Executor:
    """Launches runs when their dependency is done, at most ``jobs`` at a time.

    Args:
        runs: the planned runs (``plan_runs``).
        settings: the experiment sizes (their fingerprint marks reusable results).
        jobs: concurrent subprocesses.
        threads: ``OMP_NUM_THREADS`` / ``MKL_NUM_THREADS`` of each subprocess.
        reuse: take finished runs' ``result.json`` and resume interrupted runs instead of
            training again.
        log: receives one line per event.
        echo: also copy every subprocess's output to this process's stdout (one job at a
            time reads best: the main job does it).
    """

    def __init__(self, runs: List[Run], settings: Settings, jobs: int = 2, threads: int = 1,
                 reuse: bool = True, log: Callable[[str], None] = print,
                 echo: bool = False) -> None:
        self.runs = {run.name: run for run in runs}
        self.settings = settings
        self.jobs = max(1, jobs)
        self.threads = max(1, threads)
        self.reuse = reuse
        self.log = log
        if echo and self.jobs > 1:
            raise ValueError('echo=True streams one subprocess at a time: use jobs=1')
        self.echo = echo
        self.results: Dict[str, Dict[str, Any]] = {}

    # ------------------------------------------------------------------ preparing a run
    def _env(self) -> Dict[str, str]:
        env = dict(os.environ)
        env['OMP_NUM_THREADS'] = str(self.threads)
        env['MKL_NUM_THREADS'] = str(self.threads)
        return env

    def _init_checkpoint(self, run: Run) -> Optional[str]:
        """The published base weights a growth run starts from (None for runs from scratch)."""
        if run.depends_on is None:
            return None
        return self.results[run.depends_on]['published']

    def _record(self, run: Run, init: Optional[str]) -> Dict[str, Any]:
        return dict(fingerprint=self.settings.fingerprint(run.arm), config=run.config,
                    cfg_options=run.cfg_options, init=init)

    def _set_init(self, run: Run, init: Optional[str]) -> None:
        """Point a growth run's ``init_cfg`` at the base weights (or their stacked copy)."""
        if init is None:
            return
        if run.arm.init == 'pretrained':
            run.cfg_options.update(init_options(init))
            return
        # 'stacked': the unshared deep copy of the base model, once per run
        stacked = osp.join(run.work_dir, 'stacked_init.pth')
        if not osp.isfile(stacked):
            source_options = dict(run.cfg_options)
            source_options['model.backbone.arch.num_layers'] = self.settings.layers
            source_options['model.backbone.depth'] = float(self.settings.scale)
            source_options.update(init_options(init))
            make_stacked_checkpoint(osp.join(REPO_ROOT, STACKING_SOURCE.config), source_options,
                                    stacked, meta=dict(pretrained=init, seed=run.seed))
            self.log(f'[{run.name}] stacked checkpoint {stacked} (from {init})')
        run.cfg_options.update(init_options(stacked))

    def _start_training(self, run: Run) -> _Active:
        """Resume the run when its work dir holds an interrupted attempt with the same record,
        otherwise start it in an empty work dir."""
        init = self._init_checkpoint(run)
        record = self._record(run, init)
        record_file = osp.join(run.work_dir, RECORD_FILE)
        resume = (self.reuse and read_json(record_file) == record
                  and osp.isfile(osp.join(run.work_dir, 'last_checkpoint')))
        if not resume:  # whatever an interrupted or outdated attempt left is stale
            shutil.rmtree(run.work_dir, ignore_errors=True)
            os.makedirs(run.work_dir)
            atomic_write(record_file, json.dumps(record, indent=1))
        self._set_init(run, init)
        out = open(osp.join(run.work_dir, LOG_FILE), 'a' if resume else 'w')
        process = self._spawn(train_command(run, resume=resume), out)
        self.log(f'[{run.name}] {"resumed" if resume else "started"} (pid {process.pid})')
        return _Active(run, 'train', process, out, time.time())

    def _start_test(self, active: _Active) -> None:
        """Second phase: ``tools/test.py`` on the run's final checkpoint."""
        run = active.run
        checkpoint = last_checkpoint(run.work_dir)
        shutil.rmtree(osp.join(run.work_dir, TEST_DIR), ignore_errors=True)
        active.out = open(osp.join(run.work_dir, TEST_LOG_FILE), 'w')
        active.process = self._spawn(test_command(run, checkpoint), active.out)
        active.phase, active.start = 'test', time.time()

    def _spawn(self, command: List[str], out: IO[str]) -> subprocess.Popen:
        if self.echo:
            print(f'\n[experiment] $ {" ".join(command)}', flush=True)
        return subprocess.Popen(command, stdout=subprocess.PIPE if self.echo else out,
                                stderr=subprocess.STDOUT, env=self._env(), cwd=REPO_ROOT,
                                text=True, bufsize=1)

    # ------------------------------------------------------------------ results
    def _train_result(self, run: Run, returncode: int, wall: float,
                      cpu: float) -> Dict[str, Any]:
        """The run's record after training (the test phase adds its metrics)."""
        result: Dict[str, Any] = dict(
            run=run.name, arm=run.arm.name, seed=run.seed,
            fingerprint=self.settings.fingerprint(run.arm),
            config=osp.relpath(run.config, REPO_ROOT), cfg_options=run.cfg_options,
            wall_s=round(wall, 1), cpu_s=round(cpu, 1), returncode=returncode,
            status='ok' if returncode == 0 else 'failed', log=osp.join(run.work_dir, LOG_FILE))
        if returncode != 0:
            return result
        result['checkpoint'] = last_checkpoint(run.work_dir)
        result['curve'] = read_accuracy_curve(run.work_dir)
        if not result['curve']:
            result.update(status='failed', error='no validation accuracy in the scalar log')
            return result
        try:
            result['params'] = count_parameters(run.config, run.cfg_options)
        except Exception as error:  # the accuracy is valid even if counting fails
            result['params'] = None
            result['params_error'] = f'{type(error).__name__}: {error}'
        if run.arm.name == 'pretrain':
            result['published'] = publish_base(run)
        return result

    def _finish(self, run: Run, result: Dict[str, Any]) -> None:
        """Record the result; atomically, so a kill never leaves a half file behind."""
        self.results[run.name] = result
        atomic_write(osp.join(run.work_dir, RESULT_FILE), json.dumps(result, indent=1))
        if result['status'] == 'ok':
            self.log(f'[{run.name}] done: train {result["wall_s"]:.0f} s '
                     f'({result["cpu_s"]:.0f} s CPU), test top-1 {result["final_top1"]:.2f} '
                     f'on {result["test"]["images"]} images')
        else:
            self.log(f'[{run.name}] FAILED: {result.get("error", "")} see {result["log"]}')

    def _reusable(self, run: Run) -> Optional[Dict[str, Any]]:
        """The run's saved result when it finished with the same settings."""
        result = read_json(osp.join(run.work_dir, RESULT_FILE))
        if (not self.reuse or result is None or result.get('status') != 'ok'
                or result.get('fingerprint') != self.settings.fingerprint(run.arm)):
            return None
        return result

    # ------------------------------------------------------------------ the loop
    def _start_ready(self, pending: List[Run], active: Dict[str, _Active]) -> None:
        """Start pending runs whose dependency is done, while slots are free."""
        for run in list(pending):
            dep = run.depends_on
            if dep is not None and dep in self.results and self.results[dep]['status'] != 'ok':
                pending.remove(run)
                self.results[run.name] = dict(run=run.name, arm=run.arm.name, seed=run.seed,
                                              status='skipped', error=f'{dep} did not finish')
                self.log(f'[{run.name}] skipped: {dep} did not finish')
                continue
            if dep is not None and dep not in self.results:
                continue
            old = self._reusable(run)
            if old is not None and old.get('test', {}).get('images') == \
                    self.settings.test_images:
                pending.remove(run)
                self.results[run.name] = old
                self.log(f'[{run.name}] reused: test top-1 {old["final_top1"]:.2f}')
                continue
            if len(active) >= self.jobs:
                continue
            pending.remove(run)
            try:
                if old is not None:  # trained with these settings; only the test changed
                    self._set_init(run, self._init_checkpoint(run))
                    entry = _Active(run, result=old)
                    self._start_test(entry)
                    self.log(f'[{run.name}] trained already; testing again')
                else:
                    entry = self._start_training(run)
                active[run.name] = entry
            except Exception as error:  # a broken init must not stop the other runs
                self.results[run.name] = dict(run=run.name, arm=run.arm.name, seed=run.seed,
                                              status='failed',
                                              error=f'{type(error).__name__}: {error}')
                self.log(f'[{run.name}] failed to start: {error}')

    def _collect_finished(self, active: Dict[str, _Active]) -> None:
        """Move runs whose subprocess exited to their next phase, or record them."""
        for name, entry in list(active.items()):
            if self.echo and entry.process.stdout is not None:
                for line in entry.process.stdout:  # one job at a time: stream it
                    print(line, end='', flush=True)
                    entry.out.write(line)
            # wait4 (not Popen.poll) to get the CPU time: wall time depends on the load
            pid, status, usage = os.wait4(entry.process.pid, 0 if self.echo else os.WNOHANG)
            if pid == 0:
                continue
            code = os.waitstatus_to_exitcode(status)
            entry.process.returncode = code
            entry.out.close()
            wall, cpu = time.time() - entry.start, usage.ru_utime + usage.ru_stime
            run = entry.run
            if entry.phase == 'train':
                result = self._train_result(run, code, wall, cpu)
                if result['status'] != 'ok':
                    del active[name]
                    self._finish(run, result)
                    continue
                entry.result = result
                self._start_test(entry)
                continue
            del active[name]
            result = dict(entry.result or {})
            result['test_log'] = osp.join(run.work_dir, TEST_LOG_FILE)
            if code != 0:
                result.update(status='failed', error=f'tools/test.py exited {code}',
                              log=result['test_log'])
            else:
                metrics = read_test_metrics(osp.join(run.work_dir, TEST_DIR))
                result['test'] = dict(images=self.settings.test_images, wall_s=round(wall, 1),
                                      metrics=metrics)
                result['final_top1'] = metrics['accuracy/top1']
            self._finish(run, result)

    def run_all(self) -> Dict[str, Dict[str, Any]]:
        """Run (or reuse) every run; returns ``{run name: result}`` (failed runs included).

        On an interruption the subprocesses this executor started are terminated; their
        runs resume from their last epoch on the next invocation.
        """
        pending = list(self.runs.values())
        active: Dict[str, _Active] = {}
        try:
            while pending or active:
                self._start_ready(pending, active)
                self._collect_finished(active)
                if active and not self.echo:
                    time.sleep(1.0)
        finally:
            for entry in active.values():
                entry.process.terminate()
                entry.process.wait()
                entry.out.close()
        return self.results
