"""`python -m build` makes an sdist and a wheel that install and work outside the checkout.

Both are installed (without dependencies: the test environment already has torch, mmcv and the
OpenMMLab stack) into a folder of their own, and used from a folder outside the repository:
`import scalenet_mm` must come from that folder, mmpretrain's `list_models` must list the
ScaleNet entries, and a user config inheriting `scalenet_mm::det/mask_rcnn_scalenet_b2x.py`
must resolve from the installed package.
"""
import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow

CHECK = r'''
import os, sys
import scalenet_mm
target = os.environ['TARGET']
assert scalenet_mm.__file__.startswith(target), scalenet_mm.__file__
from mmpretrain import list_models
names = list_models('scalenet*')
assert any('scalenet' in n for n in names), names
from mmengine.config import Config
with open('user_cfg.py', 'w') as f:
    f.write("_base_ = 'scalenet_mm::det/mask_rcnn_scalenet_b2x.py'\n"
            "model = dict(backbone=dict(init_cfg=None))\n")
cfg = Config.fromfile('user_cfg.py')
assert cfg.model.backbone.type.endswith('ScaleNetViT'), cfg.model.backbone
assert cfg.model.backbone.init_cfg is None
print('OK', len(names))
'''


def _copy_sources(dest: Path) -> Path:
    """Copy the checkout without its environment, build outputs and the dev .mim links
    (building writes scalenet_mm/.mim copies, which must not replace the checkout's links)."""
    ignore = shutil.ignore_patterns('.git', '.venv', 'work_dirs', 'data', '.mim', 'build',
                                    'dist', '*.egg-info', '__pycache__', '.pytest_cache')
    shutil.copytree(REPO_ROOT, dest, ignore=ignore, symlinks=True)
    return dest


@pytest.fixture(scope='module')
def distributions(tmp_path_factory: pytest.TempPathFactory):
    work = tmp_path_factory.mktemp('build')
    src = _copy_sources(work / 'src')
    out = work / 'dist'
    subprocess.run([sys.executable, '-m', 'build', '--no-isolation', '--outdir', str(out),
                    str(src)], check=True, capture_output=True, text=True, timeout=600)
    (sdist, ) = out.glob('scalenet_mm-*.tar.gz')
    (wheel, ) = out.glob('scalenet_mm-*.whl')
    return sdist, wheel


def test_sdist_carries_what_setup_py_reads(distributions):
    sdist, _ = distributions
    with tarfile.open(sdist) as archive:
        names = {n.split('/', 1)[1] for n in archive.getnames() if '/' in n}
    for needed in ('setup.py', 'README.md', 'model-index.yml', 'requirements/runtime.txt',
                   'requirements/tests.txt', 'configs/det/mask_rcnn_scalenet_b2x.py',
                   'tools/train.py'):
        assert needed in names, needed


def test_wheel_ships_configs_and_ranges_not_pins(distributions):
    _, wheel = distributions
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        (meta_name, ) = [n for n in names if n.endswith('.dist-info/METADATA')]
        metadata = archive.read(meta_name).decode()
    assert 'scalenet_mm/.mim/configs/det/mask_rcnn_scalenet_b2x.py' in names
    assert 'scalenet_mm/.mim/model-index.yml' in names
    assert not any(n.startswith(('benchmarks/', 'experiments/', 'tests/')) for n in names)
    requires = [line for line in metadata.splitlines() if line.startswith('Requires-Dist:')]
    assert any(line.startswith('Requires-Dist: mmdet<3.4.0,>=3.3.0') for line in requires), requires
    # install_requires (no `extra ==` marker) are ranges, never exact pins.
    assert not any('==' in line.split(';')[0] for line in requires), requires
    assert 'Requires-Python: >=3.10' in metadata


@pytest.mark.parametrize('kind', ['sdist', 'wheel'])
def test_installed_distribution_works_outside_the_repository(distributions, kind, tmp_path):
    sdist, wheel = distributions
    target = tmp_path / 'site'
    subprocess.run([sys.executable, '-m', 'pip', 'install', '-q', '--no-deps', '--no-build-isolation',
                    '--target', str(target), str(sdist if kind == 'sdist' else wheel)],
                   check=True, capture_output=True, text=True, timeout=600)
    user_dir = tmp_path / 'user_project'
    user_dir.mkdir()
    env = dict(os.environ, PYTHONPATH=str(target), TARGET=str(target))
    proc = subprocess.run([sys.executable, '-c', CHECK], cwd=user_dir, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.startswith('OK')
