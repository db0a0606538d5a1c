"""Apply the command-line options of tools/train.py and tools/test.py to a config.

The same functions serve mmpretrain (classification) and mmdet (detection) configs: they
only touch keys mmengine's Runner reads (``work_dir``, ``resume``, ``load_from``,
``optim_wrapper``, ``auto_scale_lr``, ``launcher``, ``compile``). Each one fails with a message that
names the bad value and the fix, before any model or dataset is built.
"""
import os
import os.path as osp
from typing import Optional

from mmengine.config import Config
from mmengine.device import (is_cuda_available, is_mlu_available, is_musa_available,
                             is_npu_available)
from mmengine.runner import Runner

from .distributed import LAUNCHERS

DUMP_SUFFIXES = ('.pkl', '.pickle')


def set_launcher(cfg: Config, launcher: str) -> None:
    """Record the job launcher in ``cfg.launcher`` (validated)."""
    if launcher not in LAUNCHERS:
        raise ValueError(f'--launcher {launcher!r} is not supported; use one of {LAUNCHERS}')
    cfg.launcher = launcher


def export_local_rank(local_rank: int) -> None:
    """Honour a legacy ``--local-rank`` argument; torchrun's ``LOCAL_RANK`` variable wins."""
    os.environ.setdefault('LOCAL_RANK', str(local_rank))


def set_work_dir(cfg: Config, config_path: str, work_dir: Optional[str]) -> None:
    """Choose the work dir: ``--work-dir`` > ``cfg.work_dir`` > ``work_dirs/<config name>``."""
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(config_path))[0])


def set_resume(cfg: Config, resume: Optional[str]) -> None:
    """Apply ``--resume``: ``'auto'`` resumes from the work dir's latest checkpoint.

    Args:
        cfg: the config to update.
        resume: None (no resume), ``'auto'`` or the path of a checkpoint to resume from.

    Raises:
        FileNotFoundError: when ``resume`` is a local path that does not exist.
    """
    if resume is None:
        return
    cfg.resume = True
    if resume == 'auto':
        cfg.load_from = None
        return
    if '://' not in resume and not osp.isfile(osp.expanduser(resume)):
        raise FileNotFoundError(
            f'--resume {resume!r}: no such checkpoint file. Give the path of a .pth written by '
            f'a previous run (e.g. <work_dir>/iter_1000.pth), or use --resume without a value '
            f'to continue from the latest checkpoint in the work dir.')
    cfg.load_from = resume


def set_checkpoint(cfg: Config, checkpoint: str) -> None:
    """Load ``checkpoint`` into the model before testing (``cfg.load_from``).

    Raises:
        FileNotFoundError: when ``checkpoint`` is a local path that does not exist.
    """
    if '://' not in checkpoint and not osp.isfile(osp.expanduser(checkpoint)):
        raise FileNotFoundError(
            f'checkpoint {checkpoint!r} does not exist. Pass the .pth file written by '
            f'tools/train.py (e.g. work_dirs/<config>/iter_1000.pth) or a URL.')
    cfg.load_from = checkpoint


def amp_device_available() -> bool:
    """Return whether a device that mmengine's ``AmpOptimWrapper`` accepts is present."""
    return (is_cuda_available() or is_npu_available() or is_mlu_available()
            or is_musa_available())


#: ``--amp-dtype`` choices.
AMP_DTYPES = ('float16', 'bfloat16')


def enable_amp(cfg: Config, dtype: Optional[str] = None) -> str:
    """Switch the optimizer wrapper to mixed precision; return the wrapper type chosen.

    * ``dtype`` None or ``'float16'`` (``--amp``): mmengine's ``AmpOptimWrapper`` with a
      dynamic loss scale (float16 gradients underflow without one). Needs a GPU.
    * ``'bfloat16'`` (``--amp-dtype bfloat16``): on a GPU, mmengine's
      ``AmpOptimWrapper(dtype='bfloat16')``; without one, the project's
      ``AutocastOptimWrapper`` (CPU autocast; bfloat16 needs no loss scale, so none is used).

    Raises:
        ValueError: ``dtype`` is not one of :data:`AMP_DTYPES`.
        RuntimeError: float16 on a machine without a CUDA/NPU/MLU/MUSA device, where
            mmengine's AMP wrapper cannot run (it would fail later with a bare assertion).
        KeyError: when the config has no ``optim_wrapper`` to switch.
    """
    if dtype is not None and dtype not in AMP_DTYPES:
        raise ValueError(f'--amp-dtype {dtype!r}: use one of {AMP_DTYPES}')
    if cfg.get('optim_wrapper') is None:
        raise KeyError('--amp: the config has no optim_wrapper to switch to mixed precision; '
                       'add optim_wrapper=dict(optimizer=...) to the config.')
    wrapper = cfg.optim_wrapper
    if amp_device_available():
        wrapper.type = 'AmpOptimWrapper'
        wrapper.setdefault('loss_scale', 'dynamic')
        if dtype is not None:
            wrapper.dtype = dtype
        return wrapper.type
    if dtype != 'bfloat16':
        raise RuntimeError(
            '--amp needs a GPU for float16 (CUDA, or an NPU/MLU/MUSA device): mmengine\'s '
            'AmpOptimWrapper does not run on CPU, and this machine has no such device. Drop '
            '--amp to train in float32, or use --amp-dtype bfloat16 for CPU autocast.')
    wrapper.type = 'AutocastOptimWrapper'
    wrapper.pop('loss_scale', None)
    wrapper.dtype = dtype
    return wrapper.type


def enable_compile(cfg: Config) -> None:
    """Ask mmengine's Runner to ``torch.compile`` the model's ``train_step`` (``--compile``).

    ``cfg.compile = True`` (torch's default backend, inductor); a ``compile`` dict already in
    the config (e.g. ``--cfg-options compile.backend=eager``) is kept with its options.
    mmengine 0.10.7 compiles in ``Runner.train`` only (``_maybe_compile('train_step')``);
    ``val``/``test`` run uncompiled; tools/test.py compiles ``test_step`` itself
    (:func:`compile_test_step`).
    """
    if not isinstance(cfg.get('compile'), dict):
        cfg.compile = True


def enable_test_amp(cfg: Config) -> None:
    """Test in mixed precision (tools/test.py ``--amp``): ``cfg.test_cfg.fp16 = True``.

    The semantics of mmpretrain's and mmdet's ``tools/test.py --amp``: mmengine's ``TestLoop``
    (and ``ValLoop``) then run every ``test_step`` under ``mmengine.runner.amp.autocast``, which
    is float16 on a GPU and bfloat16 on CPU. Nothing else changes (no optimizer is involved).

    Raises:
        KeyError: when the config has no ``test_cfg`` (it cannot be tested at all then).
    """
    if cfg.get('test_cfg') is None:
        raise KeyError('--amp: the config has no test_cfg, so it cannot be tested; add '
                       'test_cfg=dict() (with test_dataloader and test_evaluator) to it.')
    cfg.test_cfg.fp16 = True


def compile_test_step(runner: Runner) -> bool:
    """``torch.compile`` the model's ``test_step`` of a built Runner (tools/test.py ``--compile``);
    return whether it was compiled.

    Why here and not through ``cfg.compile`` alone: mmengine 0.10.7 compiles only inside
    ``Runner.train`` (``self._maybe_compile('train_step')``); ``Runner.test`` never reads
    ``cfg.compile``. So, after the Runner is built (the model wrapped, if distributed), this does
    for ``test_step`` what mmengine does for ``train_step``: ``cfg.compile`` ``True`` compiles with
    torch's defaults (inductor), a dict passes its options (e.g. ``backend='eager'``), ``None`` /
    ``False`` leaves the model as it is. The checkpoint is loaded later, in ``Runner.test``, into
    the same parameter tensors, which the compiled function reads.
    """
    import torch
    options = runner.cfg.get('compile')
    if not options:
        return False
    options = dict(options) if isinstance(options, dict) else {}
    runner.model.test_step = torch.compile(runner.model.test_step, **options)
    runner.logger.info(f'The model\'s test_step has been compiled with torch.compile({options}); '
                       f'the first batches will be slow.')
    return True


def enable_auto_scale_lr(cfg: Config) -> None:
    """Turn on mmengine's linear lr scaling by the actual total batch size.

    Raises:
        KeyError: when the config does not say which batch size its lr was tuned for.
    """
    auto_scale_lr = cfg.get('auto_scale_lr')
    if not auto_scale_lr or 'base_batch_size' not in auto_scale_lr:
        raise KeyError(
            '--auto-scale-lr: the config has no auto_scale_lr.base_batch_size, so the lr '
            'cannot be scaled. Add auto_scale_lr=dict(base_batch_size=<total batch size the '
            'lr was tuned for>) to the config.')
    cfg.auto_scale_lr.enable = True


def check_dump_file(out: str) -> str:
    """Validate the ``--out`` file name (mmengine's DumpResults writes a pickle)."""
    if not out.endswith(DUMP_SUFFIXES):
        raise ValueError(f'--out {out!r}: predictions are dumped as a pickle; give a file '
                         f'name ending in .pkl or .pickle')
    return out
