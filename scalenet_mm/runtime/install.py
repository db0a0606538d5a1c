"""Switch the project's fixes to the OpenMMLab stack on, explicitly, and off again.

``import scalenet_mm`` only registers names. The fixes below change how mmengine treats
every file of the process, so they are opt-in, through one function:

* **atomic local writes** -- every file mmengine writes to a local path (checkpoints,
  ``last_checkpoint``, dumps) is written to a temporary file and renamed into place
  (:mod:`scalenet_mm.engine.atomic_checkpoint`); a kill or a full disk never leaves a
  truncated file under the final name;
* **scoped resume loader** -- local checkpoints inside the run's work dir (and paths trusted
  explicitly) are unpickled fully, so Runner checkpoints resume on torch >= 2.6; every other
  local file loads with ``weights_only=True`` (:mod:`.checkpoint_loading`);
* **verified downloads** -- mmengine's ``http(s)://``, ``torchvision://``, ``open-mmlab://``
  and ``mmcls://`` checkpoints go through torch hub's download with its hash check, load
  weights-only and are cached only when valid (:mod:`scalenet_mm.checkpoint.download`).

(CPU distributed runs are set up by the tools themselves, :mod:`.distributed`; clear image
errors and the kill-safe checkpoint hook are config entries: ``CheckedLoadImageFromFile``,
``SafeCheckpointHook``.)

Use::

    import scalenet_mm.runtime
    scalenet_mm.runtime.install(work_dir='work_dirs/my_run')   # idempotent
    ...
    scalenet_mm.runtime.uninstall()                            # back to mmengine's own

    with scalenet_mm.runtime.installed(work_dir=...):          # scoped (tests use it)
        ...

or, in a config, ``custom_imports = dict(imports=['scalenet_mm', 'scalenet_mm.runtime.enable'])``
(:mod:`.enable`; the work dir is then trusted by ``SafeCheckpointHook`` when the run starts).
``tools/train.py`` and ``tools/test.py`` call :func:`install` with the run's work dir.
"""
from contextlib import contextmanager
from typing import Any, Dict, Iterable, Iterator, List, Optional, Tuple

from mmengine.fileio import io as mmengine_io
from mmengine.fileio.backends import backends, prefix_to_backends, register_backend
from mmengine.runner.checkpoint import CheckpointLoader

from ..checkpoint.download import verified_schemes
from ..engine.atomic_checkpoint import (atomic_local_backend_installed,
                                        install_atomic_local_backend)
from ..private_api import checkpoint_schemes
from . import checkpoint_loading
from .checkpoint_loading import (LOCAL_PREFIX, PathLike, load_from_local_trusted,
                                 trust_checkpoints, untrust_checkpoints)

#: Every ``CheckpointLoader`` prefix :func:`install` may set.
MANAGED_PREFIXES: Tuple[str, ...] = (LOCAL_PREFIX, ) + tuple(
    prefix for prefixes in verified_schemes() for prefix in prefixes)

Snapshot = Dict[str, Any]
#: The state before the first :func:`install` (None while nothing is installed).
_before_install: Optional[Snapshot] = None
#: Paths :func:`install` trusted (untrusted again by :func:`uninstall`).
_install_trust: List[str] = []


def _snapshot() -> Snapshot:
    """Everything :func:`install` can change, as it is now."""
    schemes = checkpoint_schemes()
    return dict(
        schemes={prefix: schemes.get(prefix) for prefix in MANAGED_PREFIXES},
        local_backend=backends.get('local'),
        prefix_backend=prefix_to_backends.get(LOCAL_PREFIX),
        backend_instances=dict(mmengine_io.backend_instances),
        trusted=list(checkpoint_loading._TRUSTED),
        before_install=_before_install,
        install_trust=list(_install_trust),
    )


def _restore(snapshot: Snapshot) -> None:
    """Put back what :func:`_snapshot` recorded."""
    global _before_install
    for prefix, loader in snapshot['schemes'].items():
        if loader is None:
            checkpoint_schemes().pop(prefix, None)
        elif checkpoint_schemes().get(prefix) is not loader:
            CheckpointLoader.register_scheme(prefix, loader, force=True)
    if snapshot['local_backend'] is not None:
        register_backend('local', snapshot['local_backend'], force=True)
    if snapshot['prefix_backend'] is not None:
        prefix_to_backends[LOCAL_PREFIX] = snapshot['prefix_backend']
    mmengine_io.backend_instances.clear()
    mmengine_io.backend_instances.update(snapshot['backend_instances'])
    checkpoint_loading._TRUSTED[:] = snapshot['trusted']
    _before_install = snapshot['before_install']
    _install_trust[:] = snapshot['install_trust']


def install(work_dir: Optional[PathLike] = None, trusted: Iterable[PathLike] = (), *,
            atomic_writes: bool = True, trusted_resume: bool = True,
            verified_downloads: bool = True) -> None:
    """Switch the fixes of the module docstring on for this process (idempotent).

    Args:
        work_dir: the run's work dir: checkpoints below it resume with full unpickling.
        trusted: more files or folders to trust the same way (your own checkpoints only).
        atomic_writes: make mmengine's local backend write atomically.
        trusted_resume: make the scoped loader mmengine's loader for local paths.
        verified_downloads: load mmengine's remote schemes through the verified download.

    Calling it again only adds what is new (more trusted paths, a fix not yet on);
    :func:`uninstall` undoes every call at once.
    """
    global _before_install
    if _before_install is None:
        _before_install = _snapshot()
    if atomic_writes and not atomic_local_backend_installed():
        install_atomic_local_backend()
    if trusted_resume and checkpoint_schemes().get(LOCAL_PREFIX) is not load_from_local_trusted:
        CheckpointLoader.register_scheme(LOCAL_PREFIX, load_from_local_trusted, force=True)
    if verified_downloads:
        for prefixes, loader in verified_schemes().items():
            if any(checkpoint_schemes().get(p) is not loader for p in prefixes):
                CheckpointLoader.register_scheme(prefixes, loader, force=True)
    for path in ([work_dir] if work_dir is not None else []) + list(trusted):
        real = checkpoint_loading._real(path)
        if real not in _install_trust:
            trust_checkpoints(real)
            _install_trust.append(real)


def uninstall() -> None:
    """Give mmengine back the loaders and backend it had before :func:`install` (no-op when
    nothing is installed); paths :func:`install` trusted are no longer trusted."""
    global _before_install
    if _before_install is None:
        return
    before, trust = _before_install, list(_install_trust)
    _restore(dict(before, trusted=list(checkpoint_loading._TRUSTED), before_install=None,
                  install_trust=[]))
    untrust_checkpoints(*trust)


@contextmanager
def installed(work_dir: Optional[PathLike] = None, trusted: Iterable[PathLike] = (),
              **fixes: bool) -> Iterator[None]:
    """:func:`install` inside the ``with`` block; afterwards everything (loaders, backend,
    trusted paths) is exactly as before the block, even if it was installed already."""
    snapshot = _snapshot()
    try:
        install(work_dir, trusted, **fixes)
        yield
    finally:
        _restore(snapshot)


def active_fixes() -> Dict[str, bool]:
    """Which fixes are on now: ``atomic_writes``, ``trusted_resume``, ``verified_downloads``."""
    schemes = checkpoint_schemes()
    return dict(
        atomic_writes=atomic_local_backend_installed(),
        trusted_resume=schemes.get(LOCAL_PREFIX) is load_from_local_trusted,
        verified_downloads=all(schemes.get(p) is loader
                               for prefixes, loader in verified_schemes().items()
                               for p in prefixes),
    )

