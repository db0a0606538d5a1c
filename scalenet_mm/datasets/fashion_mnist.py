"""Put Fashion-MNIST where mmpretrain's ``FashionMNIST`` dataset reads it.

mmpretrain's ``FashionMNIST(data_root=...)`` reads the four *uncompressed* IDX files
(``train-images-idx3-ubyte``, ...) from ``data_root``; without them it tries to download
from the internet. The Debian package ``dataset-fashion-mnist`` ships the same files
gzip-compressed under ``/usr/share/datasets/fashion-mnist``. :func:`prepare_fashion_mnist`
bridges the two: it finds the files (already in ``data_root``, ``.gz`` files in
``data_root``, the Debian directory, or any directory given), decompresses them into
``data_root`` and checks their IDX headers, so a broken or truncated copy fails here and
not inside a training run. Downloading (mmpretrain's own URL and code) is the last resort
and only happens when asked for.

Command line (used by ``tools/run_main_job.py``)::

    python -m scalenet_mm.datasets.fashion_mnist data/fashion_mnist [--source DIR] [--download]
"""
import argparse
import gzip
import os
import os.path as osp
import shutil
import struct
import tempfile
from typing import Dict, List, Optional, Sequence

#: The uncompressed IDX files mmpretrain's ``FashionMNIST`` reads from ``data_root``.
FILES = ('train-images-idx3-ubyte', 'train-labels-idx1-ubyte',
         't10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte')
#: The Debian package that ships the data set, and where it puts the files.
DEBIAN_PACKAGE = 'dataset-fashion-mnist'
DEBIAN_DIR = '/usr/share/datasets/fashion-mnist'
#: Number of images per file prefix, and the IDX magic number of each kind of file.
_COUNTS = {'train': 60000, 't10k': 10000}
_MAGIC = {'images': 2051, 'labels': 2049}

INSTALL_HINT = (f'Install it with `apt-get install {DEBIAN_PACKAGE}` (no root: `apt-get download '
                f'{DEBIAN_PACKAGE} && dpkg -x {DEBIAN_PACKAGE}_*.deb DIR`), then run '
                f'`python -m scalenet_mm.datasets.fashion_mnist DATA_ROOT [--source DIR]`, '
                f'or run `bash tools/quickstart.sh`, which does all of this')


class FashionMNISTNotFound(FileNotFoundError):
    """Raised when no copy of Fashion-MNIST can be found (or downloaded)."""


def missing_files(data_root: str) -> List[str]:
    """Return the names of the uncompressed IDX files that ``data_root`` lacks."""
    return [name for name in FILES if not osp.isfile(osp.join(data_root, name))]


def check_idx_file(path: str, name: Optional[str] = None) -> None:
    """Check the IDX header of a (possibly gzipped) Fashion-MNIST file.

    Args:
        path: the file to check (``.gz`` is decompressed on the fly).
        name: the canonical file name the contents must match (default: ``path``'s name).

    Raises:
        ValueError: wrong magic number, image count or image size, or a truncated file.
    """
    name = name or osp.basename(path)
    if name.endswith('.gz'):
        name = name[:-3]
    prefix = name.split('-')[0]
    kind = 'images' if '-images-' in name else 'labels'
    opener = gzip.open if path.endswith('.gz') else open
    with opener(path, 'rb') as f:
        header = f.read(16 if kind == 'images' else 8)
    if len(header) < 8:
        raise ValueError(f'{path} is truncated (no IDX header); delete it and prepare the '
                         f'data again')
    magic, count = struct.unpack('>II', header[:8])
    if magic != _MAGIC[kind] or count != _COUNTS[prefix]:
        raise ValueError(f'{path} is not the Fashion-MNIST file {name}: IDX magic {magic} with '
                         f'{count} items, expected {_MAGIC[kind]} with {_COUNTS[prefix]}')
    if kind == 'images':
        rows, cols = struct.unpack('>II', header[8:16])
        if (rows, cols) != (28, 28):
            raise ValueError(f'{path} holds {rows}x{cols} images; Fashion-MNIST is 28x28')
    expected = (16 + count * 28 * 28) if kind == 'images' else (8 + count)
    if not path.endswith('.gz') and osp.getsize(path) != expected:
        raise ValueError(f'{path} has {osp.getsize(path)} bytes, expected {expected}: the '
                         f'file is truncated; delete it and prepare the data again')


def find_source(candidates: Sequence[str]) -> Optional[Dict[str, str]]:
    """Return ``{file name: path}`` from the first directory holding all four files.

    Each file may be uncompressed or ``.gz``; directories that do not exist are skipped.
    """
    for directory in candidates:
        if not directory or not osp.isdir(directory):
            continue
        found = {}
        for name in FILES:
            for candidate in (name, name + '.gz'):
                if osp.isfile(osp.join(directory, candidate)):
                    found[name] = osp.join(directory, candidate)
                    break
        if len(found) == len(FILES):
            return found
    return None


def _copy_uncompressed(src: str, dst: str) -> None:
    """Write ``src`` (gzipped or not) to ``dst`` uncompressed, atomically."""
    os.makedirs(osp.dirname(osp.abspath(dst)), exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=osp.dirname(osp.abspath(dst)), prefix='.partial-')
    try:
        opener = gzip.open if src.endswith('.gz') else open
        with opener(src, 'rb') as fin, os.fdopen(fd, 'wb') as fout:
            shutil.copyfileobj(fin, fout, 1 << 20)
        check_idx_file(tmp, osp.basename(dst))
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; the data is not private
        os.replace(tmp, dst)
    except BaseException:
        if osp.exists(tmp):
            os.remove(tmp)
        raise


def _download(data_root: str) -> None:
    """Download the four files with mmpretrain's ``FashionMNIST`` URLs and checksums."""
    from mmpretrain.datasets import FashionMNIST
    from mmpretrain.datasets.utils import download_and_extract_archive
    from urllib.parse import urljoin
    for filename, md5 in FashionMNIST.train_list + FashionMNIST.test_list:
        download_and_extract_archive(urljoin(FashionMNIST.url_prefix, filename),
                                     download_root=data_root, filename=filename, md5=md5)


def prepare_fashion_mnist(data_root: str, sources: Sequence[str] = (),
                          download: bool = False) -> str:
    """Make sure ``data_root`` holds the four uncompressed Fashion-MNIST IDX files.

    Looks, in order, in ``data_root`` itself (uncompressed or ``.gz``), in ``sources``, and
    in the Debian package's directory; decompresses what it finds into ``data_root`` and
    checks every file's header. Files already in place are checked, not copied again, so
    calling this twice is cheap.

    Args:
        data_root: the directory mmpretrain's ``FashionMNIST`` is given as ``data_root``.
        sources: more directories to look in (e.g. where ``dpkg -x`` unpacked the package).
        download: when no copy is found, download with mmpretrain's URLs (needs internet).

    Returns:
        ``data_root``.

    Raises:
        FashionMNISTNotFound: no copy found and ``download`` is False (or it failed); the
            message names the directories searched and how to install the data.
        ValueError: a file found has a wrong header or size.
    """
    if not missing_files(data_root):
        for name in FILES:
            check_idx_file(osp.join(data_root, name))
        return data_root
    searched = [data_root, *sources, DEBIAN_DIR]
    found = find_source(searched)
    if found is None and download:
        os.makedirs(data_root, exist_ok=True)
        try:
            _download(data_root)
        except Exception as exc:  # network errors come in many types
            raise FashionMNISTNotFound(
                f'Fashion-MNIST was not found in {searched} and downloading it into '
                f'{data_root!r} failed ({type(exc).__name__}: {exc}). {INSTALL_HINT}.') from exc
        found = find_source([data_root])
    if found is None:
        raise FashionMNISTNotFound(
            f'Fashion-MNIST was not found: none of {searched} holds all of {list(FILES)} '
            f'(plain or .gz). {INSTALL_HINT}.')
    os.makedirs(data_root, exist_ok=True)
    for name, src in found.items():
        dst = osp.join(data_root, name)
        if osp.abspath(src) == osp.abspath(dst):
            check_idx_file(dst)
        else:
            _copy_uncompressed(src, dst)
    return data_root


def main(argv: Optional[Sequence[str]] = None) -> None:
    """Command-line entry: prepare ``data_root`` and print where the data is."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('data_root', help='directory to fill (e.g. data/fashion_mnist)')
    parser.add_argument('--source', action='append', default=[],
                        help='another directory holding the files (may repeat)')
    parser.add_argument('--download', action='store_true',
                        help="download with mmpretrain's URLs when no copy is found")
    args = parser.parse_args(argv)
    root = prepare_fashion_mnist(args.data_root, args.source, args.download)
    print(f'Fashion-MNIST ready in {root}')


if __name__ == '__main__':
    main()
