"""Atomic local writes for checkpoints and everything else mmengine saves to local disk.

Why: mmengine 0.10.7 writes a checkpoint with ``open(path, 'wb').write(data)`` (its
``LocalBackend.put``). A process killed during that write, or a disk that fills up, leaves a
truncated ``iter_N.pth`` under the final name, and ``--resume`` then fails to unpickle it.

How: :func:`atomic_write` writes to a temporary file in the destination's directory, flushes
and fsyncs it, then renames it over the destination with :func:`os.replace` (atomic on POSIX
and Windows within one file system) and fsyncs the directory so the rename survives a power
loss. A reader therefore sees either the complete old file or the complete new one, never a
partial file. When the write fails (disk full, read-only directory) the temporary file is
removed, the destination is untouched, and the error names the path and the fix.

:class:`AtomicLocalBackend` is mmengine's ``LocalBackend`` with ``put``/``put_text`` routed
through :func:`atomic_write`. :func:`install_atomic_local_backend` registers it for local
paths with mmengine's own backend registry (``register_backend('local', ..., prefixes='')``),
so ``mmengine.runner.save_checkpoint`` and ``Runner.save_checkpoint`` -- which always go
through ``get_file_backend(path).put`` -- become atomic for every config once
``import scalenet_mm`` has run.
"""
import errno
import os
import os.path as osp
import re
import secrets
from pathlib import Path
from typing import BinaryIO, List, Union

from mmengine.fileio import LocalBackend, register_backend
from mmengine.fileio import io as mmengine_io

PathLike = Union[str, Path]

#: Temporary files are named ``.<final name>.tmp-<pid>-<random>`` next to the destination.
TMP_INFIX = '.tmp-'
_TMP_PATTERN = re.compile(r'^\.(?P<final>.+)\.tmp-(?P<pid>\d+)-[0-9a-f]+$')

#: errno values that mean "this storage has no room left".
_NO_SPACE = (errno.ENOSPC, errno.EDQUOT)
#: errno values that mean "this directory may not be written".
_NOT_WRITABLE = (errno.EACCES, errno.EPERM, errno.EROFS)


def temporary_path(path: PathLike) -> str:
    """Return a fresh temporary name for ``path`` in the same directory.

    Same directory so that :func:`os.replace` is a rename within one file system (atomic);
    the name starts with a dot and carries the writer's pid, so stale files of a killed
    process are recognisable (:func:`remove_stale_temporaries`) and never match
    ``*.pth`` globs.
    """
    directory, name = osp.split(osp.abspath(os.fspath(path)))
    return osp.join(directory, f'.{name}{TMP_INFIX}{os.getpid()}-{secrets.token_hex(4)}')


def _write_all(file: BinaryIO, data: bytes) -> None:
    """Write ``data`` to ``file`` (a seam: tests slow it down or make it fail)."""
    file.write(data)


def _fsync_directory(directory: str) -> None:
    """Make a rename inside ``directory`` durable (no-op where directories cannot be opened)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _explain(err: OSError, path: str) -> OSError:
    """Return an error of ``err``'s type whose message names ``path`` and the fix."""
    directory = osp.dirname(path)
    if err.errno in _NO_SPACE:
        fix = (f'the disk holding {directory!r} is full. Free space there (e.g. delete old '
               f'checkpoints, or lower default_hooks.checkpoint.max_keep_ckpts) or choose '
               f'another --work-dir, then continue with --resume')
    elif err.errno in _NOT_WRITABLE:
        fix = (f'the directory {directory!r} is not writable. Fix its permissions, or choose '
               f'a writable --work-dir, then continue with --resume')
    else:
        fix = (f'check that {directory!r} is on a healthy, writable disk, then continue with '
               f'--resume')
    message = (f'could not write {path!r} ({err.strerror or err}): {fix}. The file that was '
               f'there before, if any, is intact; nothing partial was left behind.')
    return type(err)(err.errno, message)


def atomic_write(path: PathLike, data: Union[bytes, str], encoding: str = 'utf-8') -> None:
    """Write ``data`` to ``path`` so that ``path`` is never seen partially written.

    Creates missing parent directories (as mmengine's ``LocalBackend.put`` does).

    Args:
        path: destination file.
        data: bytes, or text encoded with ``encoding``.
        encoding: text encoding for ``str`` data.

    Raises:
        OSError: (of the original subtype, e.g. ``PermissionError``) when the directory cannot
            be created or written or the disk is full; the message names the path and the fix.
            ``path`` keeps its previous content and no temporary file is left.
    """
    path = osp.abspath(os.fspath(path))
    payload = data.encode(encoding) if isinstance(data, str) else data
    tmp = temporary_path(path)
    try:
        os.makedirs(osp.dirname(path), exist_ok=True)
        with open(tmp, 'wb') as file:
            _write_all(file, payload)
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp, path)
    except OSError as err:
        try:
            os.remove(tmp)
        except FileNotFoundError:
            pass
        except OSError:
            pass  # nothing more can be done; the destination is still intact
        raise _explain(err, path) from err
    except BaseException:
        # KeyboardInterrupt and friends: same clean-up, original exception.
        try:
            os.remove(tmp)
        except OSError:
            pass
        raise
    _fsync_directory(osp.dirname(path))


def _pid_alive(pid: int) -> bool:
    """Return whether a process with ``pid`` exists on this machine."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_temporaries(directory: PathLike) -> List[str]:
    """Delete temporary files that killed writers left in ``directory``; return their paths.

    A temporary file belongs to a live write while its pid runs; only files of processes
    that no longer exist are removed. Nothing else in the directory is touched.
    """
    directory = os.fspath(directory)
    removed: List[str] = []
    if not osp.isdir(directory):
        return removed
    for name in os.listdir(directory):
        match = _TMP_PATTERN.match(name)
        if match is None or _pid_alive(int(match.group('pid'))):
            continue
        path = osp.join(directory, name)
        try:
            os.remove(path)
            removed.append(path)
        except OSError:
            pass
    return removed


class AtomicLocalBackend(LocalBackend):
    """mmengine's local file backend whose writes are atomic (see :func:`atomic_write`)."""

    def put(self, obj: bytes, filepath: PathLike) -> None:
        """Write bytes to ``filepath`` atomically."""
        atomic_write(filepath, obj)

    def put_text(self, obj: str, filepath: PathLike, encoding: str = 'utf-8') -> None:
        """Write text to ``filepath`` atomically."""
        atomic_write(filepath, obj, encoding=encoding)


def install_atomic_local_backend() -> None:
    """Make :class:`AtomicLocalBackend` mmengine's backend for local paths.

    Uses mmengine's public ``register_backend`` (name ``'local'``, prefix ``''``). Backend
    instances mmengine cached before this call are replaced too. Idempotent.
    """
    register_backend('local', AtomicLocalBackend, force=True, prefixes='')
    cache = mmengine_io.backend_instances
    for key, backend in list(cache.items()):
        if type(backend) is LocalBackend:
            cache[key] = AtomicLocalBackend()


def atomic_local_backend_installed() -> bool:
    """Return whether local paths are written through :class:`AtomicLocalBackend`."""
    from mmengine.fileio.backends import prefix_to_backends
    return prefix_to_backends.get('') is AtomicLocalBackend
