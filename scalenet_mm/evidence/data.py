"""Fashion-MNIST on disk in the layout mmpretrain's ``FashionMNIST`` dataset reads.

The Debian package ``dataset-fashion-mnist`` installs the four IDX files gzipped
(``/usr/share/datasets/fashion-mnist/*-ubyte.gz``), while mmpretrain 1.2.0's MNIST classes
open the names without ``.gz`` (and would try to download otherwise). This module writes the
decompressed copies once, so the evidence configs can point ``data_root`` at them.
"""
import gzip
import os
import os.path as osp
import shutil

#: Where the Debian package puts the files.
DEFAULT_SOURCE = '/usr/share/datasets/fashion-mnist'
#: The four files mmpretrain's ``FashionMNIST`` reads (without the ``.gz`` suffix).
FILES = ('train-images-idx3-ubyte', 'train-labels-idx1-ubyte', 't10k-images-idx3-ubyte',
         't10k-labels-idx1-ubyte')


def has_fashion_mnist(root: str) -> bool:
    """True when ``root`` holds the four decompressed IDX files."""
    return all(osp.isfile(osp.join(root, name)) for name in FILES)


def prepare_fashion_mnist(target: str, source: str = DEFAULT_SOURCE) -> str:
    """Make ``target`` a Fashion-MNIST ``data_root`` and return it.

    Files already decompressed in ``target`` are kept. Each missing file is taken from
    ``source``, decompressed when only its ``.gz`` exists there.

    Raises:
        FileNotFoundError: ``source`` lacks a file; the message says how to install it.
    """
    os.makedirs(target, exist_ok=True)
    for name in FILES:
        out = osp.join(target, name)
        if osp.isfile(out):
            continue
        plain, packed = osp.join(source, name), osp.join(source, name + '.gz')
        tmp = out + '.part'
        if osp.isfile(plain):
            shutil.copyfile(plain, tmp)
        elif osp.isfile(packed):
            with gzip.open(packed, 'rb') as fin, open(tmp, 'wb') as fout:
                shutil.copyfileobj(fin, fout)
        else:
            raise FileNotFoundError(
                f'Fashion-MNIST file {name}(.gz) is not in {source!r}. Install it with '
                f'"apt-get install -y dataset-fashion-mnist" (files go to {DEFAULT_SOURCE}), or '
                f'pass the folder that holds the IDX files.')
        os.replace(tmp, out)
    return target
