"""Run the experiment's runs as ``tools/train.py`` and ``tools/test.py`` subprocesses (the
scheduling loop is :class:`experiments.run_executor.RunExecutor`, shared with the detection
experiment).

Runs of different seeds and arms are independent except that every growth arm waits for its
seed's base run. Each run has three phases in one slot: ``tools/train.py`` (its work dir), then
``tools/test.py`` on the final checkpoint (``<work dir>/test``), whose top-1 is the reported
one, then ``tools/test.py`` on the first training images (``<work dir>/train_eval``, no
augmentation): the training accuracy, which says whether the model still underfits. Up to
``jobs`` runs go at once, each limited to ``threads`` CPU threads (small ViTs on a CPU use two
single-thread processes better than one two-thread process).

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
  with ``weights_only=True``. The Swin base publishes ``published/swin.pth`` the same way.
"""
import json
import os
import os.path as osp
import shutil
import sys
import time
from typing import Any, Callable, Dict, List, Optional

from mmengine.config import Config
from mmengine.registry import init_default_scope

from scalenet_mm.engine.atomic_checkpoint import atomic_write

from ..run_executor import RESULT_FILE, Active, RunExecutor, read_json
from .experiment import (BASE_ARMS, REPO_ROOT, STACKING_SOURCE, Run, Settings, init_options,
                         published_name, run_fingerprint)
from .logs import read_accuracy_curve, read_test_metrics
from .stacking import make_stacked_checkpoint

RECORD_FILE = 'run.json'
LOG_FILE = 'train.out'
TEST_LOG_FILE = 'test.out'
TEST_DIR = 'test'
TRAIN_EVAL_DIR = 'train_eval'
TRAIN_EVAL_LOG_FILE = 'train_eval.out'


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


def train_eval_command(run: Run, checkpoint: str, images: int,
                       python: str = sys.executable) -> List[str]:
    """The ``tools/test.py`` command line that evaluates a run's final checkpoint on the first
    ``images`` training images (the training accuracy; the test pipeline, no augmentation)."""
    options = dict(run.cfg_options)
    options.update({'test_dataloader.dataset.split': 'train',
                    'test_dataloader.dataset.test_mode': False,
                    'test_dataloader.dataset.indices': images})
    return [python, osp.join(REPO_ROOT, 'tools', 'test.py'), run.config, checkpoint,
            '--work-dir', osp.join(run.work_dir, TRAIN_EVAL_DIR), '--trust-checkpoint',
            checkpoint, '--cfg-options', *[format_option(k, v) for k, v in options.items()]]


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


def publish_base(run: Run, name: str = 'vit_L.pth') -> str:
    """The base run's final weights as a weights-only file ``published/<name>`` (reused when
    already published)."""
    from scalenet_mm.checkpoint import publish_checkpoint

    source = last_checkpoint(run.work_dir)
    out_dir = osp.join(run.work_dir, 'published')
    record = read_json(osp.join(out_dir, 'source.json'))
    source_info = dict(checkpoint=source, mtime=osp.getmtime(source))
    if record and record.get('source') == source_info and osp.isfile(record['published']):
        return record['published']
    shutil.rmtree(out_dir, ignore_errors=True)
    # Our own Runner checkpoint (optimizer state, mmengine objects): full unpickling is safe.
    published = publish_checkpoint(source, osp.join(out_dir, name), allow_pickle=True)
    # A stable name too: the recipe configs' default ``pretrained`` path (the main job's run).
    os.symlink(osp.basename(published), osp.join(out_dir, name))
    atomic_write(osp.join(out_dir, 'source.json'),
                 json.dumps(dict(source=source_info, published=published)))
    return published


class Executor(RunExecutor):
    """The classification runs: ``tools/train.py``, then ``tools/test.py`` in the same slot.

    Args:
        runs: the planned runs (``plan_runs``).
        settings: the experiment sizes (their fingerprint marks reusable results).
        jobs, threads, reuse, log, echo: as :class:`experiments.run_executor.RunExecutor`.
    """

    def __init__(self, runs: List[Run], settings: Settings, jobs: int = 2, threads: int = 1,
                 reuse: bool = True, log: Callable[[str], None] = print,
                 echo: bool = False) -> None:
        super().__init__(runs, jobs=jobs, threads=threads, reuse=reuse, log=log, echo=echo)
        self.settings = settings

    # ------------------------------------------------------------------ preparing a run
    def identity(self, run: Run) -> Dict[str, Any]:
        return dict(run=run.name, arm=run.arm.name, seed=run.seed)

    def _init_checkpoint(self, run: Run) -> Optional[str]:
        """The published base weights a growth run starts from (None for runs from scratch)."""
        if run.depends_on is None:
            return None
        return self.results[run.depends_on]['published']

    def _record(self, run: Run, init: Optional[str]) -> Dict[str, Any]:
        return dict(fingerprint=run_fingerprint(self.settings, run.arm), config=run.config,
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

    def _trained(self, run: Run) -> Optional[Dict[str, Any]]:
        """The saved result when the run finished training with these settings."""
        result = read_json(osp.join(run.work_dir, RESULT_FILE))
        if (result is None or result.get('status') != 'ok'
                or result.get('fingerprint') != run_fingerprint(self.settings, run.arm)):
            return None
        return result

    def reusable(self, run: Run) -> Optional[Dict[str, Any]]:
        old = self._trained(run)
        if (old is not None and old.get('test', {}).get('images') == self.settings.test_images
                and old.get('train_eval', {}).get('images') == self.settings.train_eval_images):
            return old
        return None

    def start(self, run: Run) -> Active:
        """Test again a run trained with these settings whose test size changed; resume one
        whose work dir holds an interrupted attempt with the same record; otherwise train it
        in an empty work dir."""
        init = self._init_checkpoint(run)
        old = self._trained(run) if self.reuse else None
        if old is not None:  # trained with these settings; only the test changed
            self._set_init(run, init)
            entry = Active(run, result=old)
            self._start_test(entry)
            self.log(f'[{run.name}] trained already; testing again')
            return entry
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
        process = self.spawn(train_command(run, resume=resume), out, REPO_ROOT, run.name)
        self.log(f'[{run.name}] {"resumed" if resume else "started"} (pid {process.pid})')
        return Active(run, 'train', process, out, time.time())

    def _start_test(self, entry: Active) -> None:
        """Second phase: ``tools/test.py`` on the run's final checkpoint."""
        run = entry.run
        checkpoint = last_checkpoint(run.work_dir)
        shutil.rmtree(osp.join(run.work_dir, TEST_DIR), ignore_errors=True)
        entry.out = open(osp.join(run.work_dir, TEST_LOG_FILE), 'w')
        entry.process = self.spawn(test_command(run, checkpoint), entry.out, REPO_ROOT,
                                   run.name)
        entry.phase, entry.start = 'test', time.time()

    # ------------------------------------------------------------------ results
    def after_train(self, entry: Active, code: int, wall: float, cpu: float) -> bool:
        """The run's record after training; the test phase follows when it succeeded."""
        run = entry.run
        result: Dict[str, Any] = dict(
            self.identity(run), fingerprint=run_fingerprint(self.settings, run.arm),
            config=osp.relpath(run.config, REPO_ROOT), cfg_options=run.cfg_options,
            wall_s=round(wall, 1), cpu_s=round(cpu, 1), returncode=code,
            status='ok' if code == 0 else 'failed', log=osp.join(run.work_dir, LOG_FILE))
        entry.result = result
        if code != 0:
            return False
        result['checkpoint'] = last_checkpoint(run.work_dir)
        result['curve'] = read_accuracy_curve(run.work_dir)
        if not result['curve']:
            result.update(status='failed', error='no validation accuracy in the scalar log')
            return False
        try:
            result['params'] = count_parameters(run.config, run.cfg_options)
        except Exception as error:  # the accuracy is valid even if counting fails
            result['params'] = None
            result['params_error'] = f'{type(error).__name__}: {error}'
        if run.arm in BASE_ARMS:
            result['published'] = publish_base(run, published_name(run.arm))
        self._start_test(entry)
        return True

    def _start_train_eval(self, entry: Active) -> None:
        """Third phase: ``tools/test.py`` on the first training images."""
        run = entry.run
        shutil.rmtree(osp.join(run.work_dir, TRAIN_EVAL_DIR), ignore_errors=True)
        entry.out = open(osp.join(run.work_dir, TRAIN_EVAL_LOG_FILE), 'w')
        entry.process = self.spawn(
            train_eval_command(run, last_checkpoint(run.work_dir),
                               self.settings.train_eval_images), entry.out, REPO_ROOT,
            run.name)
        entry.phase, entry.start = 'train_eval', time.time()

    def after_test(self, entry: Active, code: int, wall: float, cpu: float) -> bool:
        """Record the test top-1, then start the training-accuracy phase; record that."""
        run, result = entry.run, entry.result
        if entry.phase == 'train_eval':
            log = osp.join(run.work_dir, TRAIN_EVAL_LOG_FILE)
            if code != 0:
                result.update(status='failed', error=f'tools/test.py on training images '
                              f'exited {code}', log=log)
                return False
            metrics = read_test_metrics(osp.join(run.work_dir, TRAIN_EVAL_DIR))
            result['train_eval'] = dict(images=self.settings.train_eval_images,
                                        wall_s=round(wall, 1), metrics=metrics)
            result['train_top1'] = metrics['accuracy/top1']
            return False
        result['test_log'] = osp.join(run.work_dir, TEST_LOG_FILE)
        if code != 0:
            result.update(status='failed', error=f'tools/test.py exited {code}',
                          log=result['test_log'])
            return False
        metrics = read_test_metrics(osp.join(run.work_dir, TEST_DIR))
        result['test'] = dict(images=self.settings.test_images, wall_s=round(wall, 1),
                              metrics=metrics)
        result['final_top1'] = metrics['accuracy/top1']
        self._start_train_eval(entry)
        return True

    def describe(self, run: Run, result: Dict[str, Any]) -> str:
        if result.get('status') != 'ok':
            return f'FAILED: {result.get("error", "")} see {result.get("log")}'
        return (f'done: train {result["wall_s"]:.0f} s ({result["cpu_s"]:.0f} s CPU), '
                f'{self.summary(result)} on {result["test"]["images"]} images')

    def summary(self, result: Dict[str, Any]) -> str:
        return (f'test top-1 {result["final_top1"]:.2f}, training top-1 '
                f'{result["train_top1"]:.2f}')
