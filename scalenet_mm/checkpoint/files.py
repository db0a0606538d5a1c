"""Reading and writing checkpoint files safely: weights-only loads, atomic writes, hashes.

Every file this project writes (converted, expanded, exported, published checkpoints) goes
through the one atomic write (:mod:`scalenet_mm.engine.atomic_checkpoint`): a temporary file
next to its destination, renamed into place only when complete, so an interrupted run never
leaves a half-written ``.pth`` behind. Files are read
with ``torch.load(weights_only=True)`` unless the caller explicitly trusts them.
"""
import hashlib
import os.path as osp
import pickle
import re
from typing import Any, Callable, List, Optional, Union

import torch

from .errors import CheckpointFormatError, UnsafeCheckpointError

MapLocation = Optional[Union[str, torch.device, Callable, dict]]

#: ``name-<hex>.ext``: the sha256 prefix in a file name (torch hub / OpenMMLab convention).
HASH_IN_NAME = re.compile(r'-([0-9a-f]{8,64})\.[^-/]*$')


def hash_prefix_of(filename: str) -> Optional[str]:
    """The sha256 prefix a file name carries (``deit_tiny_patch16_224-a1311bcf.pth`` gives
    ``'a1311bcf'``), or None when it carries none (at least 8 hex digits are required)."""
    match = HASH_IN_NAME.search(osp.basename(filename))
    return match.group(1) if match else None


def sha256_of_file(path: str, chunk_size: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for chunk in iter(lambda: f.read(chunk_size), b''):
            digest.update(chunk)
    return digest.hexdigest()


def unsafe_globals(path: str) -> List[str]:
    """Names of the Python objects a weights-only load of ``path`` refuses (best effort)."""
    try:
        return list(torch.serialization.get_unsafe_globals_in_checkpoint(path))
    except Exception:  # not a zip checkpoint: the names cannot be listed without unpickling
        return []


def _starts_like_pickle(path: str) -> bool:
    """Whether the file begins with a pickle protocol header (``0x80``, protocol 2..5)."""
    with open(path, 'rb') as f:
        head = f.read(2)
    return len(head) == 2 and head[0] == 0x80 and 2 <= head[1] <= 5


def load_weights_only(path: str, map_location: MapLocation = 'cpu', source: Optional[str] = None,
                      fix: str = '') -> Any:
    """``torch.load(path, weights_only=True)`` with errors that say what the file is.

    Args:
        path: local file to read.
        map_location: as for :func:`torch.load`.
        source: how to name the file in errors (e.g. the URL it came from); default ``path``.
        fix: a sentence appended to errors telling the user what to do instead.

    Raises:
        UnsafeCheckpointError: the file holds objects beyond tensors and plain values
            (unpickling them could run code); nothing was executed.
        CheckpointFormatError: the file is not a PyTorch checkpoint, or is truncated.
    """
    source = source or path
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        text = str(err)
        if 'Unsupported global' in text or _starts_like_pickle(path):
            names = unsafe_globals(path)
            what = f' (it references {names})' if names else ''
            raise UnsafeCheckpointError(
                f'refused to unpickle {source}: it holds Python objects other than tensors and '
                f'plain values{what}, and unpickling them can run arbitrary code. Only '
                f'weights-only files are loaded. {fix}'.strip()) from None
        raise CheckpointFormatError(
            f'{source} is not a PyTorch checkpoint: it is neither a torch.save zip archive nor '
            f'a pickle. {fix}'.strip()) from None
    except (RuntimeError, EOFError, ValueError, OSError, IndexError) as err:
        if isinstance(err, FileNotFoundError):
            raise
        first = str(err).splitlines()[0][:200] if str(err) else type(err).__name__
        raise CheckpointFormatError(
            f'{source} is not a readable PyTorch checkpoint: {first}. The file may be '
            f'truncated, corrupted or of another format. {fix}'.strip()) from None


def load_local_checkpoint(path: str, map_location: MapLocation = 'cpu',
                          allow_pickle: bool = False) -> Any:
    """Load a local checkpoint for conversion tools: weights-only unless ``allow_pickle``.

    Runner checkpoints (optimizer state, mmengine's message hub) need full unpickling; pass
    ``allow_pickle=True`` only for files you produced yourself.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        UnsafeCheckpointError / CheckpointFormatError: see :func:`load_weights_only`.
    """
    path = osp.expanduser(path)
    if not osp.isfile(path):
        raise FileNotFoundError(f'checkpoint file {path!r} does not exist')
    if allow_pickle:
        return torch.load(path, map_location=map_location, weights_only=False)
    return load_weights_only(
        path, map_location,
        fix='If you produced this file yourself (e.g. an mmengine Runner checkpoint with '
            'optimizer state), load it with allow_pickle=True (command line: --trust-pickle).')


def save_atomic(obj: Any, path: str) -> str:
    """``torch.save(obj)`` to ``path`` through the project's one atomic write.

    :func:`scalenet_mm.engine.atomic_checkpoint.atomic_output`: a temporary file in the same
    folder, fsynced, renamed into place, the folder fsynced; on any failure the temporary
    file is removed and ``path`` is untouched. ``bytes`` are written as they are. Returns the
    absolute ``path``.
    """
    from ..engine.atomic_checkpoint import atomic_output
    path = osp.abspath(osp.expanduser(path))
    with atomic_output(path) as f:
        if isinstance(obj, (bytes, bytearray)):
            f.write(obj)
        else:
            torch.save(obj, f)
    return path


def to_plain(value: Any) -> Any:
    """``value`` reduced to what ``weights_only=True`` reads: tensors, dict/list/tuple, str,
    int, float, bool, None. numpy scalars and arrays become Python numbers and lists; anything
    else becomes None (the caller drops it)."""
    if value is None or isinstance(value, (bool, int, float, str, torch.Tensor)):
        return value
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            plain = to_plain(item)
            if plain is not None or item is None:
                out[str(key)] = plain
        return out
    if isinstance(value, (list, tuple)):
        items = [to_plain(v) for v in value]
        return type(value)(items) if isinstance(value, tuple) else items
    try:
        import numpy as np
        if isinstance(value, np.generic):
            return value.item()
        if isinstance(value, np.ndarray):
            return value.tolist()
    except ImportError:  # pragma: no cover - numpy is a torch dependency
        pass
    return None
