"""Install scalenet_mm, an OpenMMLab plugin for ScaleNet (arXiv 2510.18431).

The configs are shipped inside the package under ``scalenet_mm/.mim/configs`` (OpenMMLab's
``.mim`` convention) so that ``_base_ = 'scalenet_mm::det/mask_rcnn_scalenet_b2x.py'``
resolves from another project's config after ``pip install``. In editable installs the
folder is a symlink to ``configs/``; in regular builds it is a copy.
"""
import os
import os.path as osp
import shutil
import sys
from typing import List

from setuptools import find_packages, setup

ROOT = osp.dirname(osp.abspath(__file__))
MIM_FILES = ['configs', 'tools', 'model-index.yml']


def read_version() -> str:
    """Read ``__version__`` from scalenet_mm/version.py without importing the package."""
    scope: dict = {}
    with open(osp.join(ROOT, 'scalenet_mm', 'version.py'), encoding='utf-8') as f:
        exec(f.read(), scope)
    return scope['__version__']


def parse_requirements(name: str) -> List[str]:
    """Return the requirement lines of requirements/<name>.txt (comments dropped)."""
    path = osp.join(ROOT, 'requirements', f'{name}.txt')
    with open(path, encoding='utf-8') as f:
        return [line.split('#')[0].strip() for line in f if line.split('#')[0].strip()]


def add_mim_extension() -> None:
    """Place configs/tools/model-index.yml under scalenet_mm/.mim (link when editable)."""
    if 'develop' in sys.argv or 'editable_wheel' in sys.argv:
        mode = 'symlink'
    elif any(cmd in sys.argv for cmd in ('sdist', 'bdist_wheel', 'build', 'install')):
        mode = 'copy'
    else:
        return
    mim_path = osp.join(ROOT, 'scalenet_mm', '.mim')
    os.makedirs(mim_path, exist_ok=True)
    for name in MIM_FILES:
        src = osp.join(ROOT, name)
        dst = osp.join(mim_path, name)
        if not osp.exists(src):
            continue
        if osp.islink(dst) or osp.isfile(dst):
            os.remove(dst)
        elif osp.isdir(dst):
            shutil.rmtree(dst)
        if mode == 'symlink':
            os.symlink(osp.relpath(src, mim_path), dst)
        elif osp.isdir(src):
            shutil.copytree(src, dst)
        else:
            shutil.copyfile(src, dst)


if __name__ == '__main__':
    add_mim_extension()
    setup(
        name='scalenet_mm',
        version=read_version(),
        description='ScaleNet depth scaling with shared weights and per-instance adapters '
                    'for MMPretrain and MMDetection',
        long_description=open(osp.join(ROOT, 'README.md'), encoding='utf-8').read()
        if osp.exists(osp.join(ROOT, 'README.md')) else '',
        long_description_content_type='text/markdown',
        license='Apache License 2.0',
        python_requires='>=3.10',
        packages=find_packages(include=('scalenet_mm', 'scalenet_mm.*')),
        include_package_data=True,
        package_data={'scalenet_mm': ['.mim/configs/**/*', '.mim/tools/**/*', '.mim/model-index.yml']},
        install_requires=parse_requirements('runtime'),
        extras_require={'tests': parse_requirements('tests'), 'mmcv': parse_requirements('mmcv'),
                        'torch': parse_requirements('torch')},
        zip_safe=False,
    )
