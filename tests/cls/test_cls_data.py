"""Bad data input is reported before training, naming the path and the fix; Fashion-MNIST
is prepared from gzipped IDX files (the Debian package's form) and checked."""
import gzip
import os
import os.path as osp
import struct
import sys
from pathlib import Path

import pytest
from mmengine.config import Config

from scalenet_mm.datasets import check_data_roots
from scalenet_mm.datasets import fashion_mnist as fm

REPO = Path(__file__).resolve().parents[2]
FMNIST_CONFIG = REPO / 'configs' / 'cls' / 'fashion_mnist' / 'vit_L4_fmnist.py'
IN1K_CONFIG = REPO / 'configs' / 'cls' / 'scalenet_t2x_in1k.py'
LOADERS = ('train_dataloader', 'val_dataloader', 'test_dataloader')


def write_idx_set(folder: Path, gz: bool = True, truncate: str = '') -> Path:
    """Write the four Fashion-MNIST files with valid headers and blank pixels/labels.

    ``truncate``: the name of one file to cut short (its header stays valid)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in fm.FILES:
        count = 60000 if name.startswith('train') else 10000
        if '-images-' in name:
            payload = struct.pack('>IIII', 2051, count, 28, 28) + bytes(count * 28 * 28)
        else:
            payload = struct.pack('>II', 2049, count) + bytes(count)
        if name == truncate:
            payload = payload[:len(payload) // 2]
        if gz:
            with gzip.open(folder / (name + '.gz'), 'wb', compresslevel=1) as f:
                f.write(payload)
        else:
            (folder / name).write_bytes(payload)
    return folder


def with_data_root(config: Path, root: Path) -> Config:
    cfg = Config.fromfile(str(config))
    for key in LOADERS:
        cfg[key].dataset.data_root = str(root)
    return cfg


# ------------------------------------------------------------------ preflight
def test_missing_fashion_mnist_root_names_path_and_package(tmp_path: Path) -> None:
    missing = tmp_path / 'nowhere'
    with pytest.raises(FileNotFoundError) as err:
        check_data_roots(with_data_root(FMNIST_CONFIG, missing))
    message = str(err.value)
    assert str(missing) in message
    assert 'apt-get install dataset-fashion-mnist' in message
    assert '--cfg-options train_dataloader.dataset.data_root=' in message


def test_fashion_mnist_root_without_files(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError) as err:
        check_data_roots(with_data_root(FMNIST_CONFIG, tmp_path))
    message = str(err.value)
    assert str(tmp_path) in message and 'train-images-idx3-ubyte' in message
    assert 'apt-get install dataset-fashion-mnist' in message


def test_fashion_mnist_root_with_only_gzipped_files(tmp_path: Path) -> None:
    write_idx_set(tmp_path, gz=True)
    with pytest.raises(FileNotFoundError) as err:
        check_data_roots(with_data_root(FMNIST_CONFIG, tmp_path))
    message = str(err.value)
    assert 'only gzipped copies' in message
    assert f'python -m scalenet_mm.datasets.fashion_mnist {tmp_path}' in message


def test_fashion_mnist_download_config_is_left_to_mmpretrain(tmp_path: Path) -> None:
    cfg = with_data_root(FMNIST_CONFIG, tmp_path / 'to_be_downloaded')
    for key in LOADERS:
        cfg[key].dataset.download = True
    check_data_roots(cfg)  # no error: the dataset class downloads into data_root itself


def test_imagenet_root_without_train_folder(tmp_path: Path) -> None:
    (tmp_path / 'val').mkdir()
    with pytest.raises(FileNotFoundError) as err:
        check_data_roots(with_data_root(IN1K_CONFIG, tmp_path))
    message = str(err.value)
    assert str(tmp_path / 'train') in message and 'train/<wnid>/*.JPEG' in message


def test_imagenet_empty_train_folder(tmp_path: Path) -> None:
    (tmp_path / 'train').mkdir()
    with pytest.raises(FileNotFoundError, match='is empty'):
        check_data_roots(with_data_root(IN1K_CONFIG, tmp_path))


def test_imagenet_missing_root(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=str(tmp_path / 'imagenet')):
        check_data_roots(with_data_root(IN1K_CONFIG, tmp_path / 'imagenet'))


def test_train_tool_stops_before_training_on_missing_data(tmp_path: Path, run_tool) -> None:
    """tools/train.py prints the clear error and never starts: no checkpoint, no model log."""
    work_dir = tmp_path / 'work'
    proc = run_tool(['tools/train.py', FMNIST_CONFIG, '--work-dir', work_dir, '--cfg-options',
                     *[f'{k}.dataset.data_root={tmp_path / "absent"}' for k in LOADERS]],
                    check=False, timeout=120)
    assert proc.returncode != 0
    assert 'FileNotFoundError' in proc.stdout and str(tmp_path / 'absent') in proc.stdout
    assert 'apt-get install dataset-fashion-mnist' in proc.stdout
    assert not list(work_dir.rglob('*.pth'))


# ------------------------------------------------------------------ preparation
def test_prepare_from_gzipped_source(tmp_path: Path) -> None:
    source = write_idx_set(tmp_path / 'deb')
    root = tmp_path / 'fashion_mnist'
    assert fm.prepare_fashion_mnist(str(root), [str(source)]) == str(root)
    assert fm.missing_files(str(root)) == []
    assert (root / 't10k-images-idx3-ubyte').stat().st_size == 16 + 10000 * 784
    check_data_roots(with_data_root(FMNIST_CONFIG, root))  # the preflight now passes
    mtime = os.stat(root / 'train-images-idx3-ubyte').st_mtime_ns
    fm.prepare_fashion_mnist(str(root), [str(source)])  # second call: checked, not copied
    assert os.stat(root / 'train-images-idx3-ubyte').st_mtime_ns == mtime


def test_prepare_decompresses_gz_files_inside_data_root(tmp_path: Path) -> None:
    write_idx_set(tmp_path)
    fm.prepare_fashion_mnist(str(tmp_path), [])
    assert fm.missing_files(str(tmp_path)) == []


def test_prepare_rejects_a_truncated_file(tmp_path: Path) -> None:
    source = write_idx_set(tmp_path / 'src', truncate='t10k-labels-idx1-ubyte')
    root = tmp_path / 'root'
    with pytest.raises(ValueError, match='truncated'):
        fm.prepare_fashion_mnist(str(root), [str(source)])
    assert not (root / 't10k-labels-idx1-ubyte').exists()  # no partial file left behind
    assert not [p for p in os.listdir(root) if p.startswith('.partial')]


def test_prepare_rejects_a_file_of_another_data_set(tmp_path: Path) -> None:
    source = write_idx_set(tmp_path / 'src', gz=False)
    # a labels file where the images should be
    (source / 'train-images-idx3-ubyte').write_bytes(struct.pack('>II', 2049, 60000))
    with pytest.raises(ValueError, match='not the Fashion-MNIST file'):
        fm.prepare_fashion_mnist(str(tmp_path / 'root'), [str(source)])


def test_prepare_without_any_copy_names_searched_places_and_fix(tmp_path: Path,
                                                                monkeypatch) -> None:
    monkeypatch.setattr(fm, 'DEBIAN_DIR', str(tmp_path / 'no_debian_package'))
    with pytest.raises(fm.FashionMNISTNotFound) as err:
        fm.prepare_fashion_mnist(str(tmp_path / 'root'), [str(tmp_path / 'elsewhere')])
    message = str(err.value)
    assert str(tmp_path / 'root') in message and str(tmp_path / 'elsewhere') in message
    assert 'apt-get install dataset-fashion-mnist' in message
    assert 'dpkg -x' in message


def test_failed_download_is_reported_with_the_fix(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(fm, 'DEBIAN_DIR', str(tmp_path / 'no_debian_package'))

    def offline(data_root: str) -> None:
        raise OSError('Network is unreachable')

    monkeypatch.setattr(fm, '_download', offline)
    with pytest.raises(fm.FashionMNISTNotFound, match='Network is unreachable.*apt-get'):
        fm.prepare_fashion_mnist(str(tmp_path / 'root'), [], download=True)


def test_command_line(tmp_path: Path, run_tool) -> None:
    source = write_idx_set(tmp_path / 'src')
    proc = run_tool([sys.executable, '-m', 'scalenet_mm.datasets.fashion_mnist', tmp_path / 'root',
                     '--source', source], check=False, timeout=120)
    assert proc.returncode == 0, proc.stdout
    assert 'Fashion-MNIST ready' in proc.stdout
    assert fm.missing_files(str(tmp_path / 'root')) == []
    assert osp.isfile(tmp_path / 'root' / 'train-labels-idx1-ubyte')
