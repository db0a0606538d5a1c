"""Publish a checkpoint: weights and plain meta only, named with its sha256 prefix.

As OpenMMLab's ``publish_model`` tools do, training state (optimizer, schedulers, message
hub, EMA copies) is dropped and the first 8 hex digits of the file's sha256 are appended to
its name (``model.pth`` -> ``model-1a2b3c4d.pth``), the name torch hub and this project's
verified download check. Unlike a Runner checkpoint, the published file holds only tensors
and plain Python values, so it loads with ``torch.load(weights_only=True)`` and can be
served from a URL. The file is written to a temporary name and renamed when complete.
"""
import hashlib
import io
from typing import Any, Dict, List, Mapping, Tuple

import torch
from mmengine.logging import print_log

from .errors import CheckpointFormatError
from .files import (hash_prefix_of, load_local_checkpoint, load_weights_only, save_atomic,
                    sha256_of_file, to_plain)
from .formats import unwrap_state_dict

def published_payload(checkpoint: Mapping[str, Any],
                      source: str = 'checkpoint') -> Tuple[Dict[str, Any], List[str]]:
    """``{'state_dict': tensors, 'meta': plain values}`` from a (training) checkpoint.

    Everything else (optimizer, param_schedulers, message_hub, ema_state_dict, ...) is
    dropped, as are meta values that are not plain. Returns the payload and what was dropped.
    """
    state_dict = unwrap_state_dict(checkpoint, source)
    state_dict = {k: v.detach().to('cpu', copy=True).contiguous() for k, v in state_dict.items()}
    dropped = [k for k in checkpoint if k not in ('state_dict', 'model', 'meta')]
    meta_in = checkpoint.get('meta') if isinstance(checkpoint.get('meta'), Mapping) else {}
    meta = to_plain(dict(meta_in)) or {}
    dropped += [f'meta.{k}' for k in meta_in if k not in meta]
    return {'state_dict': state_dict, 'meta': meta}, dropped


def publish_checkpoint(in_file: str, out_file: str, allow_pickle: bool = False) -> str:
    """Write ``in_file``'s weights and plain meta to ``<out_file stem>-<sha256[:8]>.pth``.

    Args:
        in_file: the checkpoint to publish (a Runner checkpoint, an exported or expanded one).
        out_file: the desired name; the hash is inserted before ``.pth``.
        allow_pickle: unpickle ``in_file`` fully (needed for Runner checkpoints, which hold
            optimizer state and mmengine objects). Only for files you produced yourself.

    Returns:
        The path of the published file.

    Raises:
        UnsafeCheckpointError: ``in_file`` needs full unpickling and ``allow_pickle`` is False.
    """
    checkpoint = load_local_checkpoint(in_file, 'cpu', allow_pickle=allow_pickle)
    payload, dropped = published_payload(checkpoint, in_file)
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    data = buffer.getvalue()
    torch.load(io.BytesIO(data), weights_only=True)  # the published form needs no unpickling
    digest = hashlib.sha256(data).hexdigest()
    stem = out_file[:-len('.pth')] if out_file.endswith('.pth') else out_file
    final = save_atomic(data, f'{stem}-{digest[:8]}.pth')
    print_log(f'Published {in_file} -> {final} ({len(payload["state_dict"])} tensors, sha256 '
              f'{digest}); dropped: {dropped or "nothing"}', logger='current')
    return final


def load_published(path: str, map_location: Any = 'cpu') -> Dict[str, Any]:
    """Read a published file the way a downloader does (weights only, hash in name checked)."""
    expected = hash_prefix_of(path)
    if expected is not None and not sha256_of_file(path).startswith(expected):
        raise CheckpointFormatError(f'{path} does not match the sha256 prefix {expected} in its '
                                    f'name: the file was changed after publishing')
    return load_weights_only(path, map_location)
