"""The import-time dependency check (scalenet_mm/dependencies.py) and the declared ranges."""
import os
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement as PackagingRequirement
from packaging.version import Version

from scalenet_mm.dependencies import (REQUIREMENTS, DependencyVersionError, Requirement,
                                      check_dependencies, dependency_problems)

REPO_ROOT = Path(__file__).resolve().parents[1]


def _requirement_lines(name: str):
    lines = (REPO_ROOT / 'requirements' / f'{name}.txt').read_text().splitlines()
    return [PackagingRequirement(line.split('#')[0].strip()) for line in lines
            if line.split('#')[0].strip() and not line.startswith('-')]


def test_installed_environment_passes_the_check():
    assert dependency_problems() == []


def test_old_release_is_named_with_installed_and_required_version_and_fix():
    versions = {'torch': '2.1.2', 'mmdet': '3.3.0'}
    reqs = [r for r in REQUIREMENTS if r.distribution in versions]
    with pytest.raises(DependencyVersionError) as info:
        check_dependencies(reqs, version_of=versions.__getitem__)
    message = str(info.value)
    assert 'torch 2.1.2 is installed' in message and 'torch>=2.4' in message
    assert 'pip install' in message and 'mmdet' not in message.split('torch>=2.4')[0]


def test_out_of_range_and_missing_packages_are_all_listed():
    def version_of(name: str) -> str:
        if name == 'mmdet':
            raise metadata.PackageNotFoundError(name)
        return {'mmpretrain': '1.3.0', 'mmcv': '2.2.0'}.get(name, metadata.version(name))

    problems = dependency_problems(version_of=version_of)
    assert len(problems) == 3
    assert any(p.startswith('mmdet is not installed') for p in problems)
    assert any('mmpretrain 1.3.0 is installed' in p and '<1.3.0' in p for p in problems)
    assert any('mmcv 2.2.0 is installed' in p for p in problems)


def test_local_labels_and_pre_releases_count_as_their_release():
    req = Requirement('torch', '>=2.4', 'fix')
    assert req.problem(lambda _: '2.14.1+cpu') is None
    assert Requirement('mmcv', '>=2.0.0rc4,<2.2.0', 'fix').problem(lambda _: '2.1.0rc1') is None
    assert req.problem(lambda _: '2.3.1+cu121') is not None


def test_import_fails_with_the_message_when_a_dependency_is_out_of_range(tmp_path: Path):
    """A real `import scalenet_mm` in a process whose mmdet reports 3.2.0 (a fake dist-info
    first on the path) stops with the check's message, before anything else is imported."""
    fake = tmp_path / 'mmdet-3.2.0.dist-info'
    fake.mkdir()
    (fake / 'METADATA').write_text('Metadata-Version: 2.1\nName: mmdet\nVersion: 3.2.0\n')
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path), str(REPO_ROOT)]))
    env.pop('SCALENET_SKIP_VERSION_CHECK', None)
    proc = subprocess.run([sys.executable, '-c', 'import scalenet_mm'], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0
    assert 'DependencyVersionError' in proc.stderr
    assert 'mmdet 3.2.0 is installed, but scalenet_mm needs mmdet>=3.3.0,<3.4.0' in proc.stderr


def test_runtime_requirements_match_the_import_check():
    """setup.py's install_requires (requirements/runtime.txt) and the import check state the
    same ranges for the packages both name."""
    declared = {r.name: str(r.specifier) for r in _requirement_lines('runtime')}
    checked = {r.distribution: r.specifier for r in REQUIREMENTS}
    for name in set(declared) & set(checked):
        assert set(declared[name].split(',')) == set(checked[name].split(',')), name
    assert {'mmengine', 'mmpretrain', 'mmdet', 'timm', 'numpy'} <= set(declared) & set(checked)


def test_constraints_pin_every_requirement_inside_its_range():
    """The tested set (requirements/constraints.txt) pins every requirement of every
    requirements file exactly, and each pin lies in the declared range."""
    pins = {}
    for req in _requirement_lines('constraints'):
        (spec, ) = req.specifier
        assert spec.operator == '==', f'{req} is not an exact pin'
        pins[req.name.lower().replace('_', '-')] = Version(spec.version)
    for name in ('runtime', 'torch', 'build', 'tests', 'mmcv'):
        for req in _requirement_lines(name):
            key = req.name.lower().replace('_', '-')
            assert key in pins, f'{req.name} (requirements/{name}.txt) has no pin'
            assert req.specifier.contains(pins[key], prereleases=True), (req, pins[key])
