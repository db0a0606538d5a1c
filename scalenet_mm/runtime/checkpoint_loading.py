"""Resume Runner checkpoints on torch >= 2.6 while every other local file loads weights-only.

Why this exists: since torch 2.6, ``torch.load`` defaults to ``weights_only=True``. Every
checkpoint that mmengine 0.10.7's Runner saves holds numpy values and mmengine's
``HistoryBuffer`` (in ``message_hub``), so ``resume`` of such a file stops with
``UnpicklingError: Weights only load failed``. Allow-listing the classes with
``torch.serialization.add_safe_globals`` is not enough (the next failure is ``GLOBAL
getattr``), so the Runner's own files must be unpickled fully -- and unpickling runs code.

The fix, scoped: :func:`load_from_local_trusted` becomes mmengine's loader for local paths
(the ``''`` prefix of ``CheckpointLoader``) once :func:`scalenet_mm.runtime.install` ran. It
unpickles with ``weights_only=False`` ONLY files under a trusted location:

* the work dir of the run (``install(work_dir=...)``, which ``tools/train.py`` and
  ``tools/test.py`` call once the work dir is known; ``SafeCheckpointHook`` also does it for
  its Runner's work dir from ``before_run`` to ``after_run``, :func:`trust_run`, so a config
  that names the hook resumes without ``install()``): the files the Runner itself wrote;
* paths the user names explicitly: :func:`trust_checkpoints` (or ``install(trusted=...)``),
  ``--trust-checkpoint PATH`` of the tools, or the environment variable
  ``SCALENET_MM_TRUSTED_CHECKPOINTS`` (paths separated by ``os.pathsep``). A path may be a
  file or a directory (everything below it).

Every other local file is loaded with ``weights_only=True`` (tensors and plain values only,
nothing executed); when that fails the error names the file and how to trust it.
"""
import os
import os.path as osp
import pickle
from contextlib import contextmanager
from typing import Any, Callable, Iterator, List, Optional, Union

import torch

#: The prefix mmengine uses for its local-file fallback scheme.
LOCAL_PREFIX = ''
#: Environment variable with more trusted paths (``os.pathsep``-separated files or folders).
TRUST_ENV = 'SCALENET_MM_TRUSTED_CHECKPOINTS'

MapLocation = Optional[Union[str, torch.device, Callable, dict]]
PathLike = Union[str, 'os.PathLike[str]']

#: Trusted files or folders (real absolute paths), in the order they were trusted; a path
#: trusted twice is listed twice and needs two :func:`untrust_checkpoints` calls.
_TRUSTED: List[str] = []


def _real(path: PathLike) -> str:
    return osp.realpath(osp.abspath(osp.expanduser(os.fspath(path))))


def trust_checkpoints(*paths: PathLike) -> None:
    """Let the local loader unpickle fully the files at (or below) ``paths``.

    Only for files you wrote yourself (a Runner checkpoint of another work dir, say):
    unpickling a file runs whatever code it names.
    """
    _TRUSTED.extend(_real(path) for path in paths)


def untrust_checkpoints(*paths: PathLike) -> None:
    """Undo one :func:`trust_checkpoints` call per path (unknown paths are ignored)."""
    for path in paths:
        real = _real(path)
        if real in _TRUSTED:
            _TRUSTED.remove(real)


@contextmanager
def trusted_checkpoints(*paths: PathLike) -> Iterator[None]:
    """Trust ``paths`` inside the ``with`` block only."""
    trust_checkpoints(*paths)
    try:
        yield
    finally:
        untrust_checkpoints(*paths)


def trusted_locations() -> List[str]:
    """The trusted files and folders now: those trusted in this process, then the ones of
    ``$SCALENET_MM_TRUSTED_CHECKPOINTS``."""
    env = [_real(p) for p in os.environ.get(TRUST_ENV, '').split(os.pathsep) if p]
    return list(_TRUSTED) + env


def is_trusted(filename: PathLike) -> bool:
    """Whether ``filename`` is a trusted file or lies below a trusted folder (a trusted path
    that is not an existing file counts as a folder: a work dir may not exist yet)."""
    real = _real(filename)
    for location in trusted_locations():
        if real == location or (not osp.isfile(location)
                                and osp.commonpath([real, location]) == location):
            return True
    return False


def trust_hint(filename: str) -> str:
    """How to trust ``filename`` explicitly (the end of every refusal message)."""
    return (f'If you wrote this file yourself (e.g. an mmengine Runner checkpoint of another '
            f'work dir, which holds optimizer and message-hub objects), trust it explicitly: '
            f'tools/train.py or tools/test.py --trust-checkpoint {filename}, or '
            f'scalenet_mm.runtime.trust_checkpoints({filename!r}) in a script, or '
            f'{TRUST_ENV}={filename}. Never trust a file from a source you do not control: '
            f'unpickling it can run any code.')


def load_from_local_trusted(filename: str, map_location: MapLocation = None) -> Any:
    """mmengine's loader for local paths while :func:`scalenet_mm.runtime.install` is active.

    mmengine prints the loader name without its ``load_from_`` prefix, so logs read
    ``Loads checkpoint by local_trusted backend from path: ...``.

    Args:
        filename: path of a local checkpoint (``~`` is expanded).
        map_location: as for :func:`torch.load`.

    Returns:
        The checkpoint: fully unpickled for trusted files (see the module docstring),
        weights-only otherwise.

    Raises:
        FileNotFoundError: when ``filename`` is not an existing file.
        UnsafeCheckpointError: an untrusted file needs code to be unpickled (nothing was
            executed); the message says how to trust it.
        RuntimeError / pickle.UnpicklingError: as ``torch.load`` raises them for a file that
            is not a readable checkpoint (mmengine's own loader does the same).
    """
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(
            f'checkpoint {filename!r} can not be found. Check the path given to --resume, '
            f'load_from or init_cfg.checkpoint (relative paths are relative to the '
            f'current directory).')
    if is_trusted(filename):
        # weights_only=False on purpose: a trusted location (see the module docstring).
        return torch.load(filename, map_location=map_location, weights_only=False)
    # Untrusted: exactly mmengine's own loader on torch >= 2.6 (weights only, same errors for
    # damaged files), except that a file needing code names itself and how to trust it.
    try:
        return torch.load(filename, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        from ..checkpoint.errors import UnsafeCheckpointError
        from ..checkpoint.files import _starts_like_pickle, unsafe_globals
        if 'Unsupported global' not in str(err) and not _starts_like_pickle(filename):
            raise  # not a pickle at all: mmengine's error
        names = unsafe_globals(filename)
        what = f' (it references {names})' if names else ''
        raise UnsafeCheckpointError(
            f'refused to unpickle {filename}: it holds Python objects other than tensors and '
            f'plain values{what}, and unpickling them can run arbitrary code; only the run\'s '
            f'own work dir and paths trusted explicitly are unpickled fully. '
            f'{trust_hint(filename)}') from None


def trust_run(work_dir: PathLike) -> Callable[[], None]:
    """Let a Runner resume its own checkpoints: trust ``work_dir`` and make the scoped loader
    mmengine's local loader if it is not already; return a function that undoes both.

    ``SafeCheckpointHook`` calls it in ``before_run`` (before the Runner resumes) and the
    returned undo in ``after_run``. Outside trusted paths the scoped loader behaves as
    mmengine's own does on torch >= 2.6 (weights only), so a run that crashes before
    ``after_run`` leaves nothing riskier behind than its work dir trusted.
    """
    from mmengine.runner.checkpoint import CheckpointLoader

    from ..private_api import checkpoint_schemes
    previous = checkpoint_schemes().get(LOCAL_PREFIX)
    swapped = previous is not load_from_local_trusted
    if swapped:
        CheckpointLoader.register_scheme(LOCAL_PREFIX, load_from_local_trusted, force=True)
    trust_checkpoints(work_dir)

    def undo() -> None:
        untrust_checkpoints(work_dir)
        if swapped and previous is not None \
                and checkpoint_schemes().get(LOCAL_PREFIX) is load_from_local_trusted:
            CheckpointLoader.register_scheme(LOCAL_PREFIX, previous, force=True)

    return undo


def local_checkpoint_loader_registered() -> bool:
    """Return whether mmengine's local scheme is this module's loader."""
    from ..private_api import checkpoint_schemes
    return checkpoint_schemes().get(LOCAL_PREFIX) is load_from_local_trusted

