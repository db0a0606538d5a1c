"""tools/repack_wheel.sh on a tiny wheel with a compiled extension (the mmcv build's last step).

A change of the pinned `wheel` tool's behaviour (0.48 stopped creating `pack -d DIR`) must fail
here, not on a user's first install.
"""
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
SCRIPT = REPO_ROOT / 'tools' / 'repack_wheel.sh'
EXT_NAME = '_ext.cpython-311-x86_64-linux-gnu.so'

pytestmark = pytest.mark.skipif(shutil.which('gcc') is None or shutil.which('strip') is None,
                                reason='needs gcc and strip (binutils) to build the extension')


def _tiny_wheel(tmp_path: Path) -> Path:
    """Build tiny-1.0 with an extension compiled with debug info, packed by `wheel pack`."""
    tree = tmp_path / 'tree' / 'tiny-1.0'
    pkg = tree / 'tiny'
    pkg.mkdir(parents=True)
    (pkg / '__init__.py').write_text('')
    source = tmp_path / 'ext.c'
    source.write_text('int tiny_answer(void) { return 42; }\n')
    subprocess.run(['gcc', '-g', '-O0', '-shared', '-fPIC', str(source), '-o',
                    str(pkg / EXT_NAME)], check=True)
    info = tree / 'tiny-1.0.dist-info'
    info.mkdir()
    (info / 'METADATA').write_text('Metadata-Version: 2.1\nName: tiny\nVersion: 1.0\n')
    (info / 'WHEEL').write_text('Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: false\n'
                                'Tag: cp311-cp311-linux_x86_64\n')
    (info / 'RECORD').write_text('')
    out = tmp_path / 'built'
    out.mkdir()
    subprocess.run([sys.executable, '-m', 'wheel', 'pack', '-d', str(out), str(tree)], check=True,
                   capture_output=True)
    (wheel, ) = out.glob('*.whl')
    return wheel


def _member_size(wheel: Path, suffix: str) -> int:
    with zipfile.ZipFile(wheel) as archive:
        (info, ) = [i for i in archive.infolist() if i.filename.endswith(suffix)]
        return info.file_size


def test_repack_strips_the_extension_into_a_new_folder(tmp_path: Path):
    wheel = _tiny_wheel(tmp_path)
    dest = tmp_path / 'cache' / 'torch-x'  # does not exist yet: the script creates it
    proc = subprocess.run(['bash', str(SCRIPT), str(wheel), str(dest), sys.executable],
                          capture_output=True, text=True, check=True)
    repacked = Path(proc.stdout.strip())
    assert repacked.parent == dest and repacked.name == wheel.name
    assert sorted(p.name for p in dest.iterdir()) == [wheel.name]  # no partial file left
    assert _member_size(repacked, EXT_NAME) < _member_size(wheel, EXT_NAME)
    with zipfile.ZipFile(repacked) as archive:
        record = archive.read('tiny-1.0.dist-info/RECORD').decode()
    assert f'tiny/{EXT_NAME},sha256=' in record  # RECORD rewritten with the new hash
    # The stripped extension still loads and works.
    target = tmp_path / 'installed'
    with zipfile.ZipFile(repacked) as archive:
        archive.extractall(target)
    import ctypes
    assert ctypes.CDLL(str(target / 'tiny' / EXT_NAME)).tiny_answer() == 42


def test_a_broken_wheel_fails_and_leaves_the_folder_without_partial_files(tmp_path: Path):
    bad = tmp_path / 'mmcv-2.1.0-cp311-cp311-linux_x86_64.whl'
    bad.write_bytes(b'not a zip file')
    dest = tmp_path / 'cache'
    dest.mkdir()
    proc = subprocess.run(['bash', str(SCRIPT), str(bad), str(dest), sys.executable],
                          capture_output=True, text=True)
    assert proc.returncode != 0
    assert list(dest.iterdir()) == []


def test_a_missing_wheel_is_named(tmp_path: Path):
    proc = subprocess.run(['bash', str(SCRIPT), str(tmp_path / 'nope.whl'), str(tmp_path)],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and 'no such wheel file' in proc.stderr
