"""--show-dir turns on the visualization hook of mmdet and of mmpretrain configs, each
through its own keys."""
import os.path as osp
from pathlib import Path

import pytest
from mmengine.config import Config

import scalenet_mm  # noqa: F401
from scalenet_mm.runtime import enable_visualization


def runtime_config(tmp_path: Path, base: str) -> Config:
    """The installed default runtime config of a codebase (``mmdet::...``)."""
    path = tmp_path / 'cfg.py'
    path.write_text(f'_base_ = [{base!r}]\n')
    return Config.fromfile(str(path))


def test_mmdet_config_draws_into_show_dir(tmp_path: Path) -> None:
    cfg = runtime_config(tmp_path, 'mmdet::_base_/default_runtime.py')
    assert cfg.default_hooks.visualization.type == 'DetVisualizationHook'
    out = enable_visualization(cfg, str(tmp_path / 'vis'))
    hook = cfg.default_hooks.visualization
    assert hook.draw is True and hook.test_out_dir == str(tmp_path / 'vis') == out
    assert 'enable' not in hook and 'out_dir' not in hook


def test_mmpretrain_config_enables_hook(monkeypatch: pytest.MonkeyPatch,
                                        tmp_path: Path) -> None:
    cfg = runtime_config(tmp_path, 'mmpretrain::_base_/default_runtime.py')
    assert cfg.default_hooks.visualization.type == 'VisualizationHook'
    monkeypatch.chdir(tmp_path)
    out = enable_visualization(cfg, 'vis', show=True, wait_time=0.5)
    hook = cfg.default_hooks.visualization
    assert hook.enable is True and hook.out_dir == osp.join(str(tmp_path), 'vis') == out
    assert hook.interval == 1  # every test sample, not mmpretrain's default 5000th
    assert hook.show is True and hook.wait_time == 0.5
    assert 'draw' not in hook


def test_missing_hook_is_a_clear_error() -> None:
    cfg = Config(dict(default_scope='mmpretrain', default_hooks=dict()))
    with pytest.raises(KeyError, match='VisualizationHook'):
        enable_visualization(cfg, 'vis')
