"""Verified checkpoint downloads: torch hub's download with its hash check, then weights only.

mmengine 0.10.7 loads ``http(s)://`` checkpoints (``init_cfg=dict(type='Pretrained', ...)``,
``load_from``, ``load_checkpoint``) through ``torch.hub.load_state_dict_from_url``, which
unpickles with ``weights_only=False``: a pickle served at the URL runs its code, and the
downloaded file stays in the hub cache even when loading fails. :func:`download_checkpoint`
instead:

1. downloads with ``torch.hub.download_url_to_file(url, tmp, hash_prefix=...)`` (torch's own
   download and sha256 check; the prefix is the one the file name carries, ``name-<hex>.pth``,
   the torch hub and OpenMMLab convention) into a temporary name in the hub cache folder
   (``torch.hub.get_dir()/checkpoints``);
2. loads it with ``torch.load(weights_only=True)``: only tensors and plain values;
3. only then renames it into the cache, through the project's one atomic write
   (:func:`scalenet_mm.engine.atomic_checkpoint.atomic_path`). Any failure (HTTP error, wrong
   hash, a file cut short, a pickle that needs code) removes the temporary file, so nothing
   stays in the cache and nothing is ever executed.

A cached file is served without a new transfer (its hash is re-checked when its name has
one). The ``scalenet-zoo://`` scheme always uses this path. Making mmengine's own
``http://``, ``https://``, ``torchvision://``, ``open-mmlab://`` and ``mmcls://`` schemes use
it is opt-in: :func:`verified_schemes` lists the loaders, :func:`scalenet_mm.runtime.install`
registers them. Local files are not handled here.

torch's download neither checks the announced Content-Length nor has a timeout: a transfer
cut short is caught by the hash check (names with a hash) or by the weights-only load (the
file is not a readable checkpoint); a stalled server blocks until the socket's default
timeout (``socket.setdefaulttimeout``), as for torch hub itself.
"""
import os
import os.path as osp
import urllib.error
import urllib.parse
from typing import Any, Callable, Dict, Optional, Tuple

import torch
from mmengine.dist import get_dist_info
from mmengine.logging import print_log

from ..engine.atomic_checkpoint import atomic_path
from ..private_api import mmengine_home, process_mmcls_checkpoint
from .errors import CheckpointFormatError, DownloadError
from .files import MapLocation, hash_prefix_of, load_weights_only, sha256_of_file

HTTP_PREFIXES = ('http://', 'https://')


def hub_checkpoint_dir() -> str:
    """The cache folder for downloaded checkpoints: ``torch.hub.get_dir()/checkpoints``
    (honours ``TORCH_HOME`` and :func:`torch.hub.set_dir`, like torch hub)."""
    return osp.join(torch.hub.get_dir(), 'checkpoints')


def cache_path_for(url: str, model_dir: Optional[str] = None) -> str:
    """Where the file of ``url`` is cached (the URL path's base name in the cache folder)."""
    name = osp.basename(urllib.parse.urlparse(url).path)
    if not name:
        raise DownloadError(f'cannot cache {url}: its path has no file name; use a URL that '
                            f'ends in the checkpoint file name (e.g. .../model-1a2b3c4d.pth)')
    return osp.join(model_dir or hub_checkpoint_dir(), name)


def _fix(url: str) -> str:
    return (f'Check the URL, or download {url} yourself from a source you trust and pass '
            f'the local path instead.')


def _verify_cached(path: str, url: str) -> None:
    """Check a cached file against the sha256 prefix its name carries (if any)."""
    expected = hash_prefix_of(osp.basename(path))
    if expected is not None and not sha256_of_file(path).startswith(expected):
        raise DownloadError(
            f'the cached file {path} (for {url}) does not match the sha256 prefix in its '
            f'name; delete it and load again to download a fresh copy.')


def _download(url: str, tmp: str, expected: Optional[str]) -> None:
    """``torch.hub.download_url_to_file`` with errors that name the URL and the fix."""
    try:
        torch.hub.download_url_to_file(url, tmp, hash_prefix=expected, progress=False)
    except urllib.error.HTTPError as err:
        raise DownloadError(f'cannot download {url}: the server answered HTTP {err.code} '
                            f'{err.reason}. {_fix(url)}') from None
    except urllib.error.URLError as err:
        raise DownloadError(f'cannot reach {url}: {err.reason}. Check the network connection '
                            f'and the URL, or download the file elsewhere and pass its local '
                            f'path.') from None
    except RuntimeError as err:
        if 'invalid hash value' not in str(err):
            raise
        raise DownloadError(
            f'the file downloaded from {url} fails its hash check ({err}): the name promises '
            f'a sha256 starting with {expected}. The file was tampered with or damaged in '
            f'transit and was deleted. {_fix(url)}') from None
    except OSError as err:  # reset connection, timeout
        raise DownloadError(f'the transfer of {url} broke off ({type(err).__name__}: {err}); '
                            f'the partial file was deleted. Retry the download.') from None


def download_checkpoint(url: str, model_dir: Optional[str] = None,
                        map_location: MapLocation = 'cpu') -> Any:
    """Return the checkpoint at ``url``, from the cache or fetched, verified and cached.

    Args:
        url: an ``http://`` or ``https://`` URL of a ``torch.save`` file.
        model_dir: cache folder; default :func:`hub_checkpoint_dir`.
        map_location: as for :func:`torch.load`.

    Raises:
        DownloadError: unreachable URL, HTTP error, hash mismatch (nothing cached).
        UnsafeCheckpointError: the file would need code to be unpickled (refused, deleted).
        CheckpointFormatError: the file is not a complete PyTorch checkpoint, e.g. a
            transfer cut short (deleted).
    """
    final = cache_path_for(url, model_dir)
    fix = _fix(url)
    if osp.isfile(final):
        _verify_cached(final, url)
        return load_weights_only(final, map_location, source=f'{final} (cached from {url})',
                                 fix=f'Delete the cached file. {fix}')
    print_log(f'Downloading {url} to {final}', logger='current')
    with atomic_path(final) as tmp:
        _download(url, tmp, hash_prefix_of(osp.basename(final)))
        size = os.path.getsize(tmp)
        try:
            checkpoint = load_weights_only(tmp, map_location, source=url, fix=fix)
        except CheckpointFormatError as err:
            raise CheckpointFormatError(
                f'{err} ({size} bytes were received: if the transfer was cut short, or '
                f'truncated, retry the download; nothing was cached.)') from None
    print_log(f'Downloaded and verified {url} ({size} bytes)', logger='current')
    return checkpoint


def load_from_http_verified(filename: str, map_location: MapLocation = None,
                            model_dir: Optional[str] = None) -> Any:
    """mmengine ``CheckpointLoader`` scheme for ``http(s)://``: :func:`download_checkpoint`.

    In a distributed run rank 0 downloads first and the other ranks then read the cache,
    as mmengine's own loader does.
    """
    rank, world_size = get_dist_info()
    checkpoint = None
    if rank == 0:
        checkpoint = download_checkpoint(filename, model_dir, map_location)
    if world_size > 1:
        torch.distributed.barrier()
        if rank > 0:
            checkpoint = download_checkpoint(filename, model_dir, map_location)
    return checkpoint


def load_from_torchvision_verified(filename: str, map_location: MapLocation = None) -> Any:
    """``torchvision://NAME`` (and deprecated ``modelzoo://NAME``) through the verified path."""
    from mmengine.runner.checkpoint import get_torchvision_models
    name = filename.split('://', 1)[1]
    urls = get_torchvision_models()
    if name not in urls:
        raise DownloadError(f'{filename}: torchvision has no model named {name!r}')
    return load_from_http_verified(urls[name], map_location=map_location)


def load_from_openmmlab_verified(filename: str, map_location: MapLocation = None) -> Any:
    """``open-mmlab://NAME`` / ``openmmlab://NAME`` through the verified path."""
    from mmengine.runner import checkpoint as mm_checkpoint
    name = filename.split('://', 1)[1]
    name = mm_checkpoint.get_deprecated_model_names().get(name, name)
    urls = mm_checkpoint.get_external_models()
    if name not in urls:
        raise DownloadError(f'{filename}: the OpenMMLab model list has no entry {name!r}')
    url = urls[name]
    if url.startswith(HTTP_PREFIXES):
        return load_from_http_verified(url, map_location=map_location)
    local = osp.join(mmengine_home(), url)
    if not osp.isfile(local):
        raise FileNotFoundError(f'{filename} resolves to {local}, which does not exist')
    return load_weights_only(local, map_location)


def load_from_mmcls_verified(filename: str, map_location: MapLocation = None) -> Any:
    """``mmcls://NAME`` through the verified path (with mmengine's key clean-up)."""
    from mmengine.runner.checkpoint import get_mmcls_models
    name = filename[len('mmcls://'):]
    urls = get_mmcls_models()
    if name not in urls:
        raise DownloadError(f'{filename}: the mmcls model list has no entry {name!r}')
    return process_mmcls_checkpoint(load_from_http_verified(urls[name], map_location))


def verified_schemes() -> Dict[Tuple[str, ...], Callable[..., Any]]:
    """The loaders :func:`scalenet_mm.runtime.install` registers for mmengine's remote schemes
    (prefixes -> loader)."""
    return {
        HTTP_PREFIXES: load_from_http_verified,
        ('modelzoo://', 'torchvision://'): load_from_torchvision_verified,
        ('open-mmlab://', 'openmmlab://'): load_from_openmmlab_verified,
        ('mmcls://', ): load_from_mmcls_verified,
    }
