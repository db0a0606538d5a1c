"""Run the detection experiment's runs as ``tools/train.py`` / ``tools/test.py`` subprocesses.

As the classification experiment (:mod:`experiments.scalenet_evidence.execute`, whose command
helpers, checkpoint lookup and weights-only publishing this reuses): every run has its own work
dir with

- ``run.json`` (written before training): the settings fingerprint and the config text. A later
  invocation with the same record and a ``last_checkpoint`` resumes the run
  (``tools/train.py --resume``; checkpoints are saved at every evaluation); any other leftover is
  deleted;
- ``result.json`` (atomic, when the run is done): metrics, curve, times, parameters. A later
  invocation with the same fingerprint reuses it.

A pretraining run trains the classifier (``tools/train.py`` only; its per-epoch validation
top-1 is recorded) and publishes its weights-only file. A detection run trains
(``tools/train.py``, mAP on the first ``curve_val`` val canvases every ``val_interval``
iterations) and then tests its final checkpoint on the whole val split (``tools/test.py
--show-dir``: pycocotools bbox and segm mAP, and the pictures of its predictions).
Up to ``jobs`` runs go at once, each with ``threads`` CPU threads.
"""
import json
import os
import os.path as osp
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import IO, Any, Callable, Dict, List, Optional

from scalenet_mm.engine.atomic_checkpoint import atomic_write

from ..scalenet_evidence.execute import format_option, last_checkpoint, publish_base, read_json
from ..scalenet_evidence.logs import read_accuracy_curve
from .logs import METRIC_KEYS, read_map_curve, read_det_test_metrics
from .plan import (PRETRAIN_CONFIG, PRETRAIN_KEYS, REPO_ROOT, DetRun, DetSettings, det_options,
                   det_sizes, pretrain_options)

RESULT_FILE, RECORD_FILE = 'result.json', 'run.json'
TRAIN_LOG, TEST_LOG, TEST_DIR, PICTURES = 'train.out', 'test.out', 'test', 'pictures'


@dataclass
class Data:
    """The generated detection set: train, val and the val subset of the curve."""
    train: Any
    val: Any
    curve: Any
    fmnist_root: str  # the prepared Fashion-MNIST IDX files (pretraining)


def count_det_parameters(config: str) -> Dict[str, int]:
    """Unique parameters (a shared tensor once) of a detection config's model and backbone."""
    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules
    from mmengine.config import Config
    from mmengine.registry import DefaultScope

    from scalenet_mm.utils.complexity import count_unique_parameters

    register_all_modules(init_default_scope=False)
    cfg = Config.fromfile(config)
    with DefaultScope.overwrite_default_scope('mmdet'):
        model = MODELS.build(cfg.model)  # init_cfg is not applied: nothing is loaded
    return dict(model=count_unique_parameters(model)['total'],
                backbone=count_unique_parameters(model.backbone)['total'])


@dataclass
class _Active:
    run: DetRun
    phase: str
    process: subprocess.Popen
    out: IO[str]
    start: float
    result: Dict[str, Any] = field(default_factory=dict)


class DetExecutor:
    """Runs (or reuses, or resumes) the planned runs, at most ``jobs`` at a time; a detection
    arm that needs a pretrained backbone waits for its seed's pretraining run."""

    def __init__(self, runs: List[DetRun], settings: DetSettings, data: Data, jobs: int = 1,
                 threads: int = 2, reuse: bool = True,
                 log: Callable[[str], None] = print) -> None:
        self.runs = runs
        self.settings = settings
        self.data = data
        self.jobs = max(1, jobs)
        self.threads = max(1, threads)
        self.reuse = reuse
        self.log = log
        self.results: Dict[str, Dict[str, Any]] = {}

    # ---------------------------------------------------------------- commands and records
    def _fingerprint(self, run: DetRun) -> str:
        if run.is_pretrain:
            return self.settings.fingerprint(PRETRAIN_KEYS)
        return self.settings.fingerprint()

    def _env(self) -> Dict[str, str]:
        env = dict(os.environ)
        env['OMP_NUM_THREADS'] = env['MKL_NUM_THREADS'] = str(self.threads)
        return env

    def _spawn(self, command: List[str], out: IO[str]) -> subprocess.Popen:
        out.write('$ ' + ' '.join(command) + '\n')
        out.flush()
        return subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=self._env(),
                                cwd=REPO_ROOT)

    def _config(self, run: DetRun) -> str:
        """The run's config: the pretraining recipe, or the reduced detection config written
        into the run's work dir (pointing at the seed's published classifier)."""
        if run.is_pretrain:
            return PRETRAIN_CONFIG
        from scalenet_mm.testing import FASHION_CLASSES, write_reduced_mask_rcnn_config
        pretrained = (self.results[run.depends_on]['published'] if run.arm.pretrained
                      else None)
        base = run.arm.base_config
        if not base.startswith('mmdet::'):
            base = osp.join(REPO_ROOT, base)
        sizes = det_sizes(self.settings, run.arm, run.seed, pretrained)
        path = osp.join(run.work_dir, f'{run.arm.name}.py')
        return write_reduced_mask_rcnn_config(path, base, self.data.train, self.data.val,
                                              FASHION_CLASSES, sizes)

    def _options(self, run: DetRun) -> Dict[str, Any]:
        if run.is_pretrain:
            return pretrain_options(self.settings, run.seed, self.data.fmnist_root)
        return det_options(self.settings, run.arm, self.data.curve)

    def _train_command(self, run: DetRun, config: str, resume: bool) -> List[str]:
        options = [format_option(k, v) for k, v in self._options(run).items()]
        return [sys.executable, osp.join(REPO_ROOT, 'tools', 'train.py'), config, '--work-dir',
                run.work_dir, *(['--resume'] if resume else []), '--cfg-options', *options]

    def _test_command(self, run: DetRun, config: str, checkpoint: str) -> List[str]:
        # Our own Runner checkpoint from the training work dir: trusted explicitly.
        return [sys.executable, osp.join(REPO_ROOT, 'tools', 'test.py'), config, checkpoint,
                '--work-dir', osp.join(run.work_dir, TEST_DIR), '--trust-checkpoint',
                checkpoint, '--show-dir', osp.join(run.work_dir, PICTURES)]

    # ---------------------------------------------------------------- phases
    def _start(self, run: DetRun) -> _Active:
        """Resume an interrupted attempt with the same record, else start afresh."""
        record_file = osp.join(run.work_dir, RECORD_FILE)
        previous = read_json(record_file)
        resume = (self.reuse and previous is not None
                  and previous.get('fingerprint') == self._fingerprint(run)
                  and previous.get('depends_on') == (self.results[run.depends_on]['published']
                                                     if run.depends_on else None)
                  and osp.isfile(osp.join(run.work_dir, 'last_checkpoint')))
        if not resume:
            shutil.rmtree(run.work_dir, ignore_errors=True)
            os.makedirs(run.work_dir)
        config = self._config(run)
        if not resume:
            atomic_write(record_file, json.dumps(dict(
                fingerprint=self._fingerprint(run), config=config,
                depends_on=(self.results[run.depends_on]['published'] if run.depends_on
                            else None)), indent=1))
        out = open(osp.join(run.work_dir, TRAIN_LOG), 'a' if resume else 'w')
        process = self._spawn(self._train_command(run, config, resume), out)
        self.log(f'[{run.name}] {"resumed" if resume else "started"} (pid {process.pid})')
        return _Active(run, 'train', process, out, time.time(), dict(config=config))

    def _start_test(self, entry: _Active) -> None:
        run = entry.run
        shutil.rmtree(osp.join(run.work_dir, TEST_DIR), ignore_errors=True)
        shutil.rmtree(osp.join(run.work_dir, PICTURES), ignore_errors=True)
        entry.out = open(osp.join(run.work_dir, TEST_LOG), 'w')
        entry.process = self._spawn(
            self._test_command(run, entry.result['config'], last_checkpoint(run.work_dir)),
            entry.out)
        entry.phase, entry.start = 'test', time.time()

    def _base_result(self, run: DetRun) -> Dict[str, Any]:
        return dict(run=run.name, arm=run.arm.name if run.arm else 'pretrain', seed=run.seed,
                    fingerprint=self._fingerprint(run))

    def _after_train(self, entry: _Active, code: int, wall: float, cpu: float) -> bool:
        """Record the training phase; True when a test phase follows."""
        run, result = entry.run, entry.result
        result.update(self._base_result(run), train_wall_s=round(wall, 1),
                      train_cpu_s=round(cpu, 1), log=osp.join(run.work_dir, TRAIN_LOG))
        if code != 0:
            result.update(status='failed', error=f'tools/train.py exited {code}')
            return False
        result['checkpoint'] = last_checkpoint(run.work_dir)
        if run.is_pretrain:
            curve = read_accuracy_curve(run.work_dir)
            result.update(status='ok', val_top1_curve=curve,
                          val_top1=curve[-1][1] if curve else None,
                          published=publish_base(run))
            return False
        result['curve'] = read_map_curve(run.work_dir, self.settings.val_interval,
                                         self.settings.iters)
        try:
            result['params'] = count_det_parameters(result['config'])
        except Exception as error:  # the mAP is valid even if counting fails
            result['params'], result['params_error'] = None, f'{type(error).__name__}: {error}'
        return True

    def _after_test(self, entry: _Active, code: int, wall: float, cpu: float) -> None:
        run, result = entry.run, entry.result
        result.update(test_wall_s=round(wall, 1), test_cpu_s=round(cpu, 1),
                      test_log=osp.join(run.work_dir, TEST_LOG))
        if code != 0:
            result.update(status='failed', error=f'tools/test.py exited {code}')
            return
        metrics, detections = read_det_test_metrics(osp.join(run.work_dir, TEST_DIR))
        pictures = sorted(osp.join(run.work_dir, PICTURES, f)
                          for f in os.listdir(osp.join(run.work_dir, PICTURES))
                          if f.endswith('.png')) if osp.isdir(
                              osp.join(run.work_dir, PICTURES)) else []
        result.update(status='ok', test=dict(images=self.settings.num_val, metrics=metrics,
                                             any_detection=detections), pictures=pictures,
                      **{key.split('/')[1]: metrics[key] for key in METRIC_KEYS})
        if not pictures:
            result.update(status='failed', error='tools/test.py --show-dir drew no picture')

    def _finish(self, run: DetRun, result: Dict[str, Any]) -> None:
        self.results[run.name] = result
        atomic_write(osp.join(run.work_dir, RESULT_FILE), json.dumps(result, indent=1))
        if result['status'] != 'ok':
            self.log(f'[{run.name}] FAILED: {result.get("error")}; see {result.get("log")}')
        elif run.is_pretrain:
            self.log(f'[{run.name}] done in {result["train_wall_s"]:.0f} s: val top-1 '
                     f'{result["val_top1"]}')
        else:
            self.log(f'[{run.name}] done: train {result["train_wall_s"]:.0f} s, test '
                     f'{result["test_wall_s"]:.0f} s; bbox mAP {result["bbox_mAP"]:.3f}, segm '
                     f'mAP {result["segm_mAP"]:.3f}')

    # ---------------------------------------------------------------- the loop
    def _reusable(self, run: DetRun) -> Optional[Dict[str, Any]]:
        old = read_json(osp.join(run.work_dir, RESULT_FILE))
        if (not self.reuse or old is None or old.get('status') != 'ok'
                or old.get('fingerprint') != self._fingerprint(run)):
            return None
        if run.depends_on and read_json(osp.join(run.work_dir, RECORD_FILE)) and \
                read_json(osp.join(run.work_dir, RECORD_FILE)).get('depends_on') != \
                self.results[run.depends_on].get('published'):
            return None  # trained from another classifier
        return old

    def run_all(self) -> Dict[str, Dict[str, Any]]:
        """Run every run; returns ``{name: result}`` (failed and skipped runs included). On an
        interruption the subprocesses are terminated; their runs resume next time."""
        pending, active = list(self.runs), {}
        try:
            while pending or active:
                for run in list(pending):
                    dep = run.depends_on
                    if dep is not None and dep not in self.results:
                        continue
                    if dep is not None and self.results[dep].get('status') != 'ok':
                        pending.remove(run)
                        self.results[run.name] = dict(self._base_result(run), status='skipped',
                                                      error=f'{dep} did not finish')
                        self.log(f'[{run.name}] skipped: {dep} did not finish')
                        continue
                    old = self._reusable(run)
                    if old is not None:
                        pending.remove(run)
                        self.results[run.name] = old
                        self.log(f'[{run.name}] reused {osp.join(run.work_dir, RESULT_FILE)}')
                        continue
                    if len(active) < self.jobs:
                        pending.remove(run)
                        try:
                            active[run.name] = self._start(run)
                        except Exception as error:  # one broken run must not stop the others
                            self.results[run.name] = dict(
                                self._base_result(run), status='failed',
                                error=f'{type(error).__name__}: {error}')
                            self.log(f'[{run.name}] failed to start: {error}')
                for name, entry in list(active.items()):
                    pid, status, usage = os.wait4(entry.process.pid, os.WNOHANG)
                    if pid == 0:
                        continue
                    code = os.waitstatus_to_exitcode(status)
                    entry.process.returncode = code
                    entry.out.close()
                    wall, cpu = time.time() - entry.start, usage.ru_utime + usage.ru_stime
                    if entry.phase == 'train':
                        if self._after_train(entry, code, wall, cpu):
                            self._start_test(entry)
                            continue
                    else:
                        self._after_test(entry, code, wall, cpu)
                    del active[name]
                    self._finish(entry.run, entry.result)
                if active:
                    time.sleep(0.5)
        finally:
            for entry in active.values():
                entry.process.terminate()
                entry.process.wait()
                entry.out.close()
        return self.results
