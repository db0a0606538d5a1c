"""Load the user's own local checkpoints (Runner checkpoints included) on torch >= 2.6.

Why this exists: since torch 2.6, ``torch.load`` defaults to ``weights_only=True``. Every
checkpoint that mmengine 0.10.7's Runner saves holds numpy values and mmengine's
``HistoryBuffer`` (in ``message_hub``), so ``resume``, ``load_from`` and ``load_checkpoint``
of such a file stop with ``UnpicklingError: Weights only load failed``. Allow-listing the
classes with ``torch.serialization.add_safe_globals`` is not enough (the next failure is
``GLOBAL getattr``).

The fix: replace mmengine's fallback loader (the ``''`` prefix of ``CheckpointLoader``, used
for every path that no other scheme claims, i.e. local files) with one that unpickles with
``weights_only=False``. That is safe for the files it sees: paths on the user's own disk,
typically written by the user's own training runs, and as trusted as the config and code
the user is running. Files fetched from the network are NOT loaded here: the ``http://`` and
``https://`` schemes are registered separately by :mod:`scalenet_mm.checkpoint` and keep
``weights_only=True``, so a downloaded pickle can never run code. Do not point this loader
at a file you downloaded from somewhere you do not trust; load such files through their URL.
"""
import os.path as osp
from typing import Any, Callable, Optional, Union

import torch
from mmengine.runner.checkpoint import CheckpointLoader

#: The prefix mmengine uses for its local-file fallback scheme.
LOCAL_PREFIX = ''

MapLocation = Optional[Union[str, torch.device, Callable, dict]]


def load_from_local_trusted(filename: str, map_location: MapLocation = None) -> Any:
    """Load a checkpoint from a local path, allowing the non-tensor objects Runner files hold.

    mmengine prints the loader name without its ``load_from_`` prefix, so logs read
    ``Loads checkpoint by local_trusted backend from path: ...``.

    Args:
        filename: path of a local checkpoint (``~`` is expanded).
        map_location: as for :func:`torch.load`.

    Returns:
        The unpickled checkpoint (usually a dict with ``state_dict``, ``meta``,
        ``message_hub``, ``optimizer``, ...).

    Raises:
        FileNotFoundError: when ``filename`` is not an existing file.
    """
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(
            f'checkpoint {filename!r} can not be found. Check the path given to --resume, '
            f'load_from or init_cfg.checkpoint (relative paths are relative to the '
            f'current directory).')
    # weights_only=False on purpose: see the module docstring (local files are the user's own).
    return torch.load(filename, map_location=map_location, weights_only=False)


def register_local_checkpoint_loader() -> None:
    """Make :func:`load_from_local_trusted` mmengine's loader for local paths.

    Idempotent: calling it again (or re-importing the package) changes nothing. Other
    schemes (``http://``, ``https://``, ``s3://``, ...) are left as they are.
    """
    if CheckpointLoader._schemes.get(LOCAL_PREFIX) is load_from_local_trusted:
        return
    CheckpointLoader.register_scheme(
        prefixes=LOCAL_PREFIX, loader=load_from_local_trusted, force=True)


def local_checkpoint_loader_registered() -> bool:
    """Return whether mmengine's local scheme is this module's loader."""
    return CheckpointLoader._schemes.get(LOCAL_PREFIX) is load_from_local_trusted
