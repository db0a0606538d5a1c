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

:func:`atomic_path` / :func:`atomic_output` are the project's ONE atomic write: checkpoint
files (:func:`scalenet_mm.checkpoint.files.save_atomic`), downloads
(:mod:`scalenet_mm.checkpoint.download`), JSON results and mmengine's own saves all use them.

:class:`AtomicLocalBackend` is mmengine's ``LocalBackend`` with ``put``/``put_text`` routed
through :func:`atomic_write`. Importing this module only adds it to mmengine's backend
registry under a new name (:data:`ATOMIC_BACKEND`), which ``SafeCheckpointHook`` asks for.
Making it the backend of every local path (so ``mmengine.runner.save_checkpoint`` and the
Runner's other writes are atomic too) is opt-in: :func:`install_atomic_local_backend`,
called by :func:`scalenet_mm.runtime.install`.
"""
import errno
import os
import os.path as osp
import re
import secrets
from pathlib import Path
from contextlib import contextmanager
from typing import BinaryIO, Iterator, List, Union

from mmengine.fileio import LocalBackend, register_backend
from mmengine.fileio import io as mmengine_io
from mmengine.fileio.backends import backends, prefix_to_backends

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


def _remove_quietly(path: str) -> None:
    """Delete ``path`` if it exists; errors are ignored (the destination is intact anyway)."""
    try:
        os.remove(path)
    except OSError:
        pass


def _fsync_file(path: str) -> None:
    """Flush the content of the closed file ``path`` to the disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def atomic_path(path: PathLike) -> Iterator[str]:
    """Yield a temporary path next to ``path``; on success move the file written there into
    place atomically, on any failure delete it.

    The caller (or a library it calls, e.g. ``torch.hub.download_url_to_file``) writes the
    complete file at the yielded path and closes it. When the ``with`` body returns, the file
    is fsynced, renamed over ``path`` with :func:`os.replace` and the directory is fsynced.
    When the body raises (anything, ``KeyboardInterrupt`` included) the temporary file is
    removed and the exception propagates unchanged; ``path`` is untouched.

    Raises:
        OSError: (of the original subtype) when the directory cannot be created, or the
            fsync/rename fails; the message names ``path`` and the fix.
    """
    path = osp.abspath(os.fspath(path))
    tmp = temporary_path(path)
    try:
        os.makedirs(osp.dirname(path), exist_ok=True)
    except OSError as err:
        raise _explain(err, path) from err
    try:
        yield tmp
    except BaseException:
        _remove_quietly(tmp)
        raise
    try:
        _fsync_file(tmp)
        os.replace(tmp, path)
    except OSError as err:
        _remove_quietly(tmp)
        raise _explain(err, path) from err
    except BaseException:
        _remove_quietly(tmp)
        raise
    _fsync_directory(osp.dirname(path))


@contextmanager
def atomic_output(path: PathLike) -> Iterator[BinaryIO]:
    """Yield a binary file whose content replaces ``path`` atomically when the body returns.

    Built on :func:`atomic_path`: a failure anywhere leaves ``path`` as it was and no
    temporary file behind. Errors of ``open`` and of writes the caller makes through
    :func:`_write_all` are reported with the path and the fix.
    """
    with atomic_path(path) as tmp:
        try:
            file = open(tmp, 'wb')
        except OSError as err:
            raise _explain(err, osp.abspath(os.fspath(path))) from err
        with file:
            yield file


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
    payload = data.encode(encoding) if isinstance(data, str) else data
    with atomic_output(path) as file:
        try:
            _write_all(file, payload)
        except OSError as err:
            raise _explain(err, osp.abspath(os.fspath(path))) from err


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


#: The name :class:`AtomicLocalBackend` is registered under in mmengine's backend registry
#: (a new name: mmengine's own ``'local'`` entry is untouched). ``SafeCheckpointHook`` asks
#: for it through ``backend_args=dict(backend=ATOMIC_BACKEND)`` for local work dirs.
ATOMIC_BACKEND = 'scalenet_atomic_local'


def register_atomic_backend_name() -> None:
    """Add :class:`AtomicLocalBackend` to mmengine's backends under :data:`ATOMIC_BACKEND`.

    Additive (a name mmengine does not have, no prefix): nothing else changes. Idempotent.
    """
    if backends.get(ATOMIC_BACKEND) is not AtomicLocalBackend:
        register_backend(ATOMIC_BACKEND, AtomicLocalBackend)


def install_atomic_local_backend() -> None:
    """Make :class:`AtomicLocalBackend` mmengine's backend for every local path (opt-in).

    Called by :func:`scalenet_mm.runtime.install`, not on import. Uses mmengine's public
    ``register_backend`` (name ``'local'``, prefix ``''``); backend instances mmengine cached
    before this call are replaced too. Idempotent; :func:`restore_local_backend` undoes it.
    """
    register_backend('local', AtomicLocalBackend, force=True, prefixes='')
    cache = mmengine_io.backend_instances
    for key, backend in list(cache.items()):
        if type(backend) is LocalBackend:
            cache[key] = AtomicLocalBackend()


def restore_local_backend(backend: type = LocalBackend) -> None:
    """Give local paths back to ``backend`` (mmengine's ``LocalBackend`` by default), cached
    instances included."""
    register_backend('local', backend, force=True, prefixes='')
    cache = mmengine_io.backend_instances
    for key, instance in list(cache.items()):
        if type(instance) is AtomicLocalBackend and backend is not AtomicLocalBackend:
            cache[key] = backend()


def atomic_local_backend_installed() -> bool:
    """Return whether local paths are written through :class:`AtomicLocalBackend`."""
    return prefix_to_backends.get('') is AtomicLocalBackend


register_atomic_backend_name()
