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
Up to ``jobs`` runs go at once, each with ``threads`` CPU threads; the scheduling loop is
:class:`experiments.run_executor.RunExecutor`, shared with the classification experiment.
"""
import json
import os
import os.path as osp
import shutil
import sys
import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional

from scalenet_mm.engine.atomic_checkpoint import atomic_write

from ..run_executor import RESULT_FILE, Active, RunExecutor, read_json
from ..scalenet_evidence.execute import format_option, last_checkpoint, publish_base
from ..scalenet_evidence.logs import read_accuracy_curve
from .logs import METRIC_KEYS, read_map_curve, read_det_test_metrics
from . import swin
from .plan import (PRETRAIN_CONFIG, PUBLISHED_NAMES, REPO_ROOT, STAGE_CONFIGS, DetRun, DetSettings,
                   config_extra, det_options, det_sizes, detection_keys, pretrain_keys,
                   pretrain_name, pretrain_options, stage_keys, stage_options)

RECORD_FILE = 'run.json'
TRAIN_LOG, TEST_LOG, TEST_DIR, PICTURES = 'train.out', 'test.out', 'test', 'pictures'


@dataclass
class Data:
    """The generated detection set: train, val and the val subset of the curve."""
    train: Any
    val: Any
    curve: Any
    fmnist_root: str  # the prepared Fashion-MNIST IDX files (pretraining)
    #: the ViT classifier's IDX files: ``fmnist_root``, or the canvases of ``--pretrain-input
    #: canvas`` (:mod:`.canvas_pretrain`); None: ``fmnist_root``
    vit_pretrain_root: Optional[str] = None


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


#: The copy of the classifier with a zero position embedding (``pos_embed_transfer='zero'``).
ZERO_POS_NAME = 'backbone_zero_pos_embed.pth'


def zero_pos_embed(published: str, path: str) -> str:
    """Write ``published`` (a weights-only classifier) to ``path`` with its ViT's absolute
    position embedding set to zero, every other tensor unchanged; returns ``path``.

    Why a file: the detector loads its backbone through ``init_cfg=dict(type='Pretrained')``,
    which takes a path, and the run's config must name what it loaded."""
    import torch

    from scalenet_mm.checkpoint.files import load_local_checkpoint, save_atomic

    checkpoint = load_local_checkpoint(published)
    state = checkpoint.get('state_dict', checkpoint)
    keys = [k for k in state if k.endswith('pos_embed') and 'absolute' not in k]
    if len(keys) != 1:
        raise KeyError(f'{published} holds {len(keys)} position embeddings ({keys}); '
                       f'pos_embed_transfer=zero needs exactly one (a ViT classifier)')
    state[keys[0]] = torch.zeros_like(state[keys[0]])
    return save_atomic(checkpoint, path)


class DetExecutor(RunExecutor):
    """Runs (or reuses, or resumes) the planned runs, at most ``jobs`` at a time; a detection
    arm that needs a pretrained backbone waits for its seed's pretraining run."""

    def __init__(self, runs: List[DetRun], settings: DetSettings, data: Data, jobs: int = 1,
                 threads: int = 2, reuse: bool = True,
                 log: Callable[[str], None] = print) -> None:
        super().__init__(runs, jobs=jobs, threads=threads, reuse=reuse, log=log)
        self.settings = settings
        self.data = data

    # ---------------------------------------------------------------- commands and records
    def _fingerprint(self, run: DetRun) -> str:
        if run.is_pretrain:
            if run.stage != 'pretrain':
                return self.settings.fingerprint(stage_keys(self.settings))
            return self.settings.fingerprint(swin.SWIN_PRETRAIN_KEYS if run.backbone == 'swin'
                                             else pretrain_keys(self.settings))
        if run.arm.backbone == 'swin':  # the ViT sizes do not apply
            return self.settings.fingerprint(swin.detection_keys(self.settings))
        if run.depends_on is None or run.depends_on == pretrain_name(run.seed):
            return self.settings.fingerprint(detection_keys(self.settings))
        return self.settings.fingerprint()

    def _config(self, run: DetRun) -> str:
        """The run's config: the pretraining recipe, or the reduced detection config written
        into the run's work dir (pointing at the seed's published classifier)."""
        if run.is_pretrain:
            if run.stage != 'pretrain':
                return STAGE_CONFIGS[run.stage]
            return swin.SWIN_PRETRAIN_CONFIG if run.backbone == 'swin' else PRETRAIN_CONFIG
        from scalenet_mm.testing import FASHION_CLASSES, write_reduced_mask_rcnn_config
        pretrained = (self.results[run.depends_on]['published'] if run.arm.pretrained
                      else None)
        if pretrained is not None and self.settings.pos_embed_transfer == 'zero':
            pretrained = zero_pos_embed(pretrained, osp.join(run.work_dir, ZERO_POS_NAME))
        base = run.arm.base_config
        if not base.startswith('mmdet::'):
            base = osp.join(REPO_ROOT, base)
        sizes = det_sizes(self.settings, run.arm, run.seed, pretrained)
        path = osp.join(run.work_dir, f'{run.arm.name}.py')
        return write_reduced_mask_rcnn_config(path, base, self.data.train, self.data.val,
                                              FASHION_CLASSES, sizes,
                                              config_extra(self.settings, run.arm))

    def _options(self, run: DetRun) -> Dict[str, Any]:
        if run.is_pretrain:
            if run.backbone == 'swin':
                return swin.pretrain_options(self.settings, run.seed, self.data.fmnist_root)
            data_root = self.data.vit_pretrain_root or self.data.fmnist_root
            if run.stage != 'pretrain':
                return stage_options(self.settings, run.seed, data_root, run.stage,
                                     self.results[run.depends_on]['published'])
            return pretrain_options(self.settings, run.seed, data_root)
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
    def start(self, run: DetRun) -> Active:
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
        process = self.spawn(self._train_command(run, config, resume), out, REPO_ROOT, run.name)
        self.log(f'[{run.name}] {"resumed" if resume else "started"} (pid {process.pid})')
        return Active(run, 'train', process, out, time.time(), dict(config=config))

    def _start_test(self, entry: Active) -> None:
        run = entry.run
        shutil.rmtree(osp.join(run.work_dir, TEST_DIR), ignore_errors=True)
        shutil.rmtree(osp.join(run.work_dir, PICTURES), ignore_errors=True)
        entry.out = open(osp.join(run.work_dir, TEST_LOG), 'w')
        entry.process = self.spawn(
            self._test_command(run, entry.result['config'], last_checkpoint(run.work_dir)),
            entry.out, REPO_ROOT, run.name)
        entry.phase, entry.start = 'test', time.time()

    def identity(self, run: DetRun) -> Dict[str, Any]:
        pretrain = 'swin_pretrain' if run.backbone == 'swin' else run.stage
        return dict(run=run.name, arm=run.arm.name if run.arm else pretrain, seed=run.seed,
                    fingerprint=self._fingerprint(run))

    def after_train(self, entry: Active, code: int, wall: float, cpu: float) -> bool:
        """Record the training phase; True when the test phase was started."""
        run, result = entry.run, entry.result
        result.update(self.identity(run), train_wall_s=round(wall, 1),
                      train_cpu_s=round(cpu, 1), log=osp.join(run.work_dir, TRAIN_LOG))
        if code != 0:
            result.update(status='failed', error=f'tools/train.py exited {code}')
            return False
        result['checkpoint'] = last_checkpoint(run.work_dir)
        if run.is_pretrain:
            curve = read_accuracy_curve(run.work_dir)
            result.update(status='ok', val_top1_curve=curve,
                          val_top1=curve[-1][1] if curve else None,
                          published=publish_base(run, swin.PUBLISHED_NAME
                                                 if run.backbone == 'swin' else
                                                 PUBLISHED_NAMES[run.stage]))
            return False
        result['curve'] = read_map_curve(run.work_dir, self.settings.val_interval,
                                         self.settings.iters)
        try:
            result['params'] = count_det_parameters(result['config'])
        except Exception as error:  # the mAP is valid even if counting fails
            result['params'], result['params_error'] = None, f'{type(error).__name__}: {error}'
        self._start_test(entry)
        return True

    def after_test(self, entry: Active, code: int, wall: float, cpu: float) -> None:
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

    def describe(self, run: DetRun, result: Dict[str, Any]) -> str:
        if result['status'] != 'ok':
            return f'FAILED: {result.get("error")}; see {result.get("log")}'
        if run.is_pretrain:
            return f'done in {result["train_wall_s"]:.0f} s: val top-1 {result["val_top1"]}'
        return (f'done: train {result["train_wall_s"]:.0f} s, test {result["test_wall_s"]:.0f} '
                f's; {self.summary(result)}')

    def summary(self, result: Dict[str, Any]) -> str:
        if 'bbox_mAP' not in result:
            return f'val top-1 {result.get("val_top1")}'
        return f'bbox mAP {result["bbox_mAP"]:.3f}, segm mAP {result["segm_mAP"]:.3f}'

    # ---------------------------------------------------------------- the loop
    def reusable(self, run: DetRun) -> Optional[Dict[str, Any]]:
        old = read_json(osp.join(run.work_dir, RESULT_FILE))
        if (not self.reuse or old is None or old.get('status') != 'ok'
                or old.get('fingerprint') != self._fingerprint(run)):
            return None
        if run.depends_on and read_json(osp.join(run.work_dir, RECORD_FILE)) and \
                read_json(osp.join(run.work_dir, RECORD_FILE)).get('depends_on') != \
                self.results[run.depends_on].get('published'):
            return None  # trained from another classifier
        return old
