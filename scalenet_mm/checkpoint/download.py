"""Verified checkpoint downloads for every ``http(s)://`` checkpoint mmengine loads.

mmengine 0.10.7 loads ``http(s)://`` checkpoints (``init_cfg=dict(type='Pretrained', ...)``,
``load_from``, ``load_checkpoint``) through ``torch.hub.load_state_dict_from_url``, which
unpickles with ``weights_only=False``: a pickle served at the URL runs its code, and the
downloaded file stays in the hub cache even when loading fails. Importing this module
replaces that loader (``CheckpointLoader.register_scheme(..., force=True)``) with
:func:`load_from_http_verified`:

1. the file is downloaded to a temporary file in the hub cache folder
   (``torch.hub.get_dir()/checkpoints``) and its length is checked against Content-Length;
2. when the file name carries a sha256 prefix (``name-<hex>.pth``, the torch hub and
   OpenMMLab convention) the content must match it;
3. it is loaded with ``torch.load(weights_only=True)``: only tensors and plain values;
4. only then is it renamed into the cache (atomically). A failed check removes the
   temporary file, so nothing stays in the cache and nothing is ever executed.

A cached file is served without a new transfer (its hash is re-checked when its name has
one). The ``torchvision://``, ``open-mmlab://`` and ``mmcls://`` schemes, which resolve to
URLs, are re-registered to use the same path. Local files are not handled here.
"""
import os
import os.path as osp
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, BinaryIO, Optional

import torch
from mmengine.dist import get_dist_info
from mmengine.logging import print_log
from mmengine.runner.checkpoint import CheckpointLoader

from .errors import DownloadError
from .files import MapLocation, hash_prefix_of, load_weights_only, sha256_of_file

HTTP_PREFIXES = ('http://', 'https://')
#: Seconds without progress before a transfer is abandoned.
DEFAULT_TIMEOUT = 60.0
_CHUNK = 1 << 20


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


def _verify_hash(path: str, url: str, name: str) -> None:
    """Check ``path`` against the sha256 prefix that the file ``name`` carries (if any)."""
    expected = hash_prefix_of(name)
    if expected is None:
        return
    actual = sha256_of_file(path)
    if not actual.startswith(expected):
        raise DownloadError(
            f'the file downloaded from {url} fails its hash check: its sha256 starts with '
            f'{actual[:len(expected)]}, the name promises {expected}. The file was tampered with '
            f'or damaged in transit and was deleted. {_fix(url)}')


def _fetch(url: str, out: BinaryIO, timeout: float) -> int:
    """Stream ``url`` into the open binary file ``out``; return the byte count."""
    request = urllib.request.Request(url, headers={'User-Agent': 'scalenet_mm'})
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as err:
        raise DownloadError(f'cannot download {url}: the server answered HTTP {err.code} '
                            f'{err.reason}. {_fix(url)}') from None
    except (urllib.error.URLError, OSError) as err:
        reason = getattr(err, 'reason', err)
        raise DownloadError(f'cannot reach {url}: {reason}. Check the network connection and '
                            f'the URL, or download the file elsewhere and pass its local '
                            f'path.') from None
    with response:
        declared = response.headers.get('Content-Length')
        received = 0
        try:
            while True:
                chunk = response.read(_CHUNK)
                if not chunk:
                    break
                out.write(chunk)
                received += len(chunk)
        except Exception as err:  # IncompleteRead, reset connection, timeout
            raise DownloadError(f'the transfer of {url} broke off after {received} bytes '
                                f'({type(err).__name__}: {err}); the partial file was deleted. '
                                f'Retry the download. {_fix(url)}') from None
        out.flush()
        os.fsync(out.fileno())
    if declared is not None and declared.isdigit() and int(declared) != received:
        raise DownloadError(
            f'the transfer of {url} is incomplete: received {received} of {declared} bytes '
            f'(Content-Length). The partial file was deleted; retry the download.')
    return received


def download_checkpoint(url: str, model_dir: Optional[str] = None,
                        map_location: MapLocation = 'cpu',
                        timeout: float = DEFAULT_TIMEOUT) -> Any:
    """Return the checkpoint at ``url``, from the cache or fetched, verified and cached.

    Args:
        url: an ``http://`` or ``https://`` URL of a ``torch.save`` file.
        model_dir: cache folder; default :func:`hub_checkpoint_dir`.
        map_location: as for :func:`torch.load`.
        timeout: seconds without progress before giving up.

    Raises:
        DownloadError: unreachable URL, HTTP error, truncated transfer, hash mismatch.
        UnsafeCheckpointError: the file would need code to be unpickled (refused, deleted).
        CheckpointFormatError: the file is not a PyTorch checkpoint (deleted).
    """
    final = cache_path_for(url, model_dir)
    fix = _fix(url)
    if osp.isfile(final):
        try:
            _verify_hash(final, url, osp.basename(final))
        except DownloadError:
            raise DownloadError(
                f'the cached file {final} (for {url}) does not match the sha256 prefix in its '
                f'name; delete it and load again to download a fresh copy.') from None
        return load_weights_only(final, map_location, source=f'{final} (cached from {url})',
                                 fix=f'Delete the cached file. {fix}')
    os.makedirs(osp.dirname(final), exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f'.{osp.basename(final)}.', suffix='.partial',
                               dir=osp.dirname(final))
    try:
        print_log(f'Downloading {url} to {final}', logger='current')
        with os.fdopen(fd, 'wb') as out:
            size = _fetch(url, out, timeout)
        _verify_hash(tmp, url, osp.basename(final))
        checkpoint = load_weights_only(tmp, map_location, source=url, fix=fix)
        os.replace(tmp, final)
        print_log(f'Downloaded and verified {url} ({size} bytes)', logger='current')
        return checkpoint
    finally:
        if osp.exists(tmp):
            os.remove(tmp)


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
    from mmengine.runner.checkpoint import (_get_mmengine_home, get_deprecated_model_names,
                                            get_external_models)
    name = filename.split('://', 1)[1]
    name = get_deprecated_model_names().get(name, name)
    urls = get_external_models()
    if name not in urls:
        raise DownloadError(f'{filename}: the OpenMMLab model list has no entry {name!r}')
    url = urls[name]
    if url.startswith(HTTP_PREFIXES):
        return load_from_http_verified(url, map_location=map_location)
    local = osp.join(_get_mmengine_home(), url)
    if not osp.isfile(local):
        raise FileNotFoundError(f'{filename} resolves to {local}, which does not exist')
    return load_weights_only(local, map_location)


def load_from_mmcls_verified(filename: str, map_location: MapLocation = None) -> Any:
    """``mmcls://NAME`` through the verified path (with mmengine's key clean-up)."""
    from mmengine.runner.checkpoint import _process_mmcls_checkpoint, get_mmcls_models
    name = filename[len('mmcls://'):]
    urls = get_mmcls_models()
    if name not in urls:
        raise DownloadError(f'{filename}: the mmcls model list has no entry {name!r}')
    return _process_mmcls_checkpoint(load_from_http_verified(urls[name], map_location))


def register_verified_schemes() -> None:
    """Make mmengine load every remote checkpoint through the verified path."""
    CheckpointLoader.register_scheme(HTTP_PREFIXES, load_from_http_verified, force=True)
    CheckpointLoader.register_scheme(('modelzoo://', 'torchvision://'),
                                     load_from_torchvision_verified, force=True)
    CheckpointLoader.register_scheme(('open-mmlab://', 'openmmlab://'),
                                     load_from_openmmlab_verified, force=True)
    CheckpointLoader.register_scheme('mmcls://', load_from_mmcls_verified, force=True)


register_verified_schemes()
