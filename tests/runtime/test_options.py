"""The command-line options of tools/train.py and tools/test.py applied to configs, the
runner builder's preflight, and the error messages for bad values."""
import os.path as osp
from pathlib import Path

import pytest
from mmengine.config import Config

from scalenet_mm.runtime import build_runner, options
from scalenet_mm.runtime.options import (check_dump_file, enable_amp, enable_auto_scale_lr,
                                         set_checkpoint, set_launcher, set_resume,
                                         set_work_dir)


def test_work_dir_priority() -> None:
    cfg = Config(dict())
    set_work_dir(cfg, 'configs/cls/my_config.py', None)
    assert cfg.work_dir == osp.join('./work_dirs', 'my_config')
    cfg = Config(dict(work_dir='from_config'))
    set_work_dir(cfg, 'configs/cls/my_config.py', None)
    assert cfg.work_dir == 'from_config'
    set_work_dir(cfg, 'configs/cls/my_config.py', 'from_cli')
    assert cfg.work_dir == 'from_cli'


def test_resume_auto_and_path(tmp_path: Path) -> None:
    cfg = Config(dict(load_from='pretrained.pth', resume=False))
    set_resume(cfg, None)
    assert cfg.resume is False and cfg.load_from == 'pretrained.pth'
    set_resume(cfg, 'auto')
    assert cfg.resume is True and cfg.load_from is None
    ckpt = tmp_path / 'iter_4.pth'
    ckpt.write_bytes(b'')
    set_resume(cfg, str(ckpt))
    assert cfg.resume is True and cfg.load_from == str(ckpt)


def test_resume_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match='iter_9.pth'):
        set_resume(Config(dict()), str(tmp_path / 'iter_9.pth'))


def test_checkpoint_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match='missing.pth'):
        set_checkpoint(Config(dict()), str(tmp_path / 'missing.pth'))
    cfg = Config(dict())
    set_checkpoint(cfg, 'https://example.org/model.pth')  # URLs are left to their loader
    assert cfg.load_from == 'https://example.org/model.pth'


def test_amp_without_gpu_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(options, 'amp_device_available', lambda: False)
    cfg = Config(dict(optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.1))))
    with pytest.raises(RuntimeError, match='--amp needs a GPU.*Drop --amp'):
        enable_amp(cfg)
    assert 'type' not in cfg.optim_wrapper


def test_amp_with_gpu_switches_wrapper(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(options, 'amp_device_available', lambda: True)
    cfg = Config(dict(optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.1))))
    enable_amp(cfg)
    assert cfg.optim_wrapper.type == 'AmpOptimWrapper'
    assert cfg.optim_wrapper.loss_scale == 'dynamic'


def test_auto_scale_lr() -> None:
    cfg = Config(dict(auto_scale_lr=dict(base_batch_size=256)))
    enable_auto_scale_lr(cfg)
    assert cfg.auto_scale_lr == dict(base_batch_size=256, enable=True)
    with pytest.raises(KeyError, match='base_batch_size'):
        enable_auto_scale_lr(Config(dict()))


def test_bad_launcher_and_dump_file() -> None:
    with pytest.raises(ValueError, match="'torchrun'"):
        set_launcher(Config(dict()), 'torchrun')
    with pytest.raises(ValueError, match=r"preds\.json.*\.pkl"):
        check_dump_file('preds.json')
    assert check_dump_file('preds.pkl') == 'preds.pkl'


def test_build_runner_checks_data_first(tmp_path: Path, tiny_cls_config: Path) -> None:
    cfg = Config.fromfile(str(tiny_cls_config))
    missing = str(tmp_path / 'no_such_dataset')
    cfg.train_dataloader.dataset.data_root = missing
    cfg.work_dir = str(tmp_path / 'work')
    cfg.launcher = 'none'
    with pytest.raises(FileNotFoundError, match='no_such_dataset'):
        build_runner(cfg)
    assert not osp.exists(cfg.work_dir)  # failed before the Runner made anything


def test_test_mode_needs_only_test_data(tmp_path: Path, tiny_cls_config: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """Evaluating a checkpoint must not require the training set to be present."""
    cfg = Config.fromfile(str(tiny_cls_config))
    cfg.train_dataloader.dataset.data_root = str(tmp_path / 'no_train_set')
    cfg.test_dataloader.dataset.data_root = str(tmp_path / 'no_test_set')
    cfg.work_dir = str(tmp_path / 'work')
    cfg.launcher = 'none'
    with pytest.raises(FileNotFoundError, match='test_dataloader.*no_test_set'):
        build_runner(cfg, mode='test')
    with pytest.raises(ValueError, match="'eval'"):
        build_runner(cfg, mode='eval')


def test_amp_dtype_choices_and_compile() -> None:
    from mmengine.config import Config

    from scalenet_mm.runtime.options import (amp_device_available, enable_amp,
                                             enable_compile)
    cfg = Config(dict(optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.1),
                                         loss_scale='dynamic')))
    with pytest.raises(ValueError, match="--amp-dtype 'int8'"):
        enable_amp(cfg, 'int8')
    if not amp_device_available():
        with pytest.raises(RuntimeError, match='--amp-dtype bfloat16'):
            enable_amp(cfg)
        assert enable_amp(cfg, 'bfloat16') == 'AutocastOptimWrapper'
        assert cfg.optim_wrapper.dtype == 'bfloat16' and 'loss_scale' not in cfg.optim_wrapper
    else:
        assert enable_amp(cfg, 'bfloat16') == 'AmpOptimWrapper'
    enable_compile(cfg)
    assert cfg.compile is True
    cfg.compile = dict(backend='eager')
    enable_compile(cfg)
    assert cfg.compile == dict(backend='eager')
