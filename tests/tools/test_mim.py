"""OpenMMLab's package manager on this plugin: `mim search`, `mim train` (1 and 2 CPU processes,
``--launcher pytorch``) and `mim test`, as a user runs them after installing scalenet_mm.

mim finds the package's tools and configs through its installed path (``scalenet_mm/.mim``), so
these fail when the editable install hides the package from mim (the PEP 660 layout).
"""
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

MIM = shutil.which('mim', path=str(Path(sys.executable).parent))
pytestmark = pytest.mark.skipif(MIM is None, reason='openmim is not installed (requirements/tests.txt)')


def _mim(*args: object, cwd: Path, env: dict, timeout: int = 420) -> subprocess.CompletedProcess:
    proc = subprocess.run([MIM, *map(str, args)], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)
    assert proc.returncode == 0, (proc.stdout[-3000:], proc.stderr[-3000:])
    return proc


def test_mim_search_lists_the_model_index(tmp_path: Path, tool_environment) -> None:
    out = _mim('search', 'scalenet_mm', cwd=tmp_path, env=tool_environment()).stdout
    assert 'config id: scalenet-deit-base-2x_8xb128_in1k' in out
    assert 'config id: mask-rcnn_scalenet-b2x_8xb2-lsj-184k_coco' in out
    assert 'configs/det/mask_rcnn_scalenet_b2x.py' in out


@pytest.mark.slow
@pytest.mark.parametrize('processes', [1, 2])
def test_mim_train_then_test(tmp_path: Path, tiny_cls_config: Path, processes: int,
                            tool_environment, unused_port: int) -> None:
    env = tool_environment()
    work_dir = tmp_path / 'work'
    launch = (['--gpus', '0'] if processes == 1 else
              ['--gpus', '2', '--launcher', 'pytorch', '--port', unused_port])
    out = _mim('train', 'scalenet_mm', tiny_cls_config, *launch, '--work-dir', work_dir,
               cwd=tmp_path, env=env).stdout
    assert 'Training finished successfully' in out
    if processes == 2:
        assert '--nproc_per_node=2' in out
    checkpoint = work_dir / 'iter_4.pth'
    assert checkpoint.is_file()
    # mim passes unknown options on to tools/test.py: the run's checkpoint is trusted explicitly
    # (the test writes to another work dir).
    out = _mim('test', 'scalenet_mm', tiny_cls_config, '--checkpoint', checkpoint, '--gpus', '0',
               '--work-dir', tmp_path / 'test', '--trust-checkpoint', checkpoint,
               cwd=tmp_path, env=env).stdout
    assert 'accuracy/top1' in out
