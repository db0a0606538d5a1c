"""build_runner refuses a detection config up front when mmcv has no compiled ops."""
import sys

import pytest
from mmengine.config import Config

from scalenet_mm.engine.env_check import REBUILD_COMMAND, MmcvOpsMissingError
from scalenet_mm.runtime.runner import build_runner


def test_detection_config_without_mmcv_ops_fails_before_the_runner(monkeypatch, tmp_path):
    # A None entry in sys.modules makes `import mmcv._ext` raise ImportError, as without ops.
    monkeypatch.setitem(sys.modules, 'mmcv._ext', None)
    cfg = Config(dict(default_scope='mmdet', work_dir=str(tmp_path / 'work'),
                      model=dict(type='MaskRCNN')))
    with pytest.raises(MmcvOpsMissingError, match='mmcv._ext') as err:
        build_runner(cfg, mode='train')
    assert REBUILD_COMMAND in str(err.value)
    assert not (tmp_path / 'work').exists()  # nothing was started or written
