"""Test-only hooks for training subprocesses: stop at a chosen point so a test can SIGKILL
the process exactly there.

A config enables it with ``custom_imports=dict(imports=['scalenet_mm', 'kill_points'])``
(``tests/reliability`` on ``PYTHONPATH``) and ``custom_hooks=[dict(type='PauseAt', ...)]``.
When the run reaches the point it creates the ``marker`` file and sleeps; the test waits for
the marker, then kills. A point whose marker already exists is passed without pausing, so a
resumed run goes on. The hook draws no random numbers and changes no training state.

Points (``at`` counts iterations from 1, as mmengine's logs and checkpoint names do):

* ``'step'``: during iteration ``at``, after backward and before the optimizer step;
* ``'val'``: inside the validation run that follows iteration ``at``, at its first batch;
* ``'save'``: while ``iter_{at}.pth`` is being written, with half of its bytes on disk.

:class:`SigkillRankAt` kills one process of a distributed run (``kill -9`` on itself).
"""
import os
import signal
import time
from typing import Any

from mmengine.hooks import Hook

from scalenet_mm.engine import atomic_checkpoint
from scalenet_mm.registry import register_hook

POINTS = ('step', 'val', 'save')


@register_hook
class PauseAt(Hook):
    """Create ``marker`` and sleep ``seconds`` at ``point`` of iteration ``at``."""

    priority = 'VERY_LOW'

    def __init__(self, point: str, at: int, marker: str, seconds: float = 600) -> None:
        if point not in POINTS:
            raise ValueError(f'point={point!r}; use one of {POINTS}')
        self.point, self.at, self.marker, self.seconds = point, at, marker, seconds

    def _pause(self) -> None:
        if os.path.exists(self.marker):
            return
        with open(self.marker, 'w') as f:
            f.write(str(os.getpid()))
        time.sleep(self.seconds)

    def before_train(self, runner) -> None:
        if self.point != 'save':
            return
        write_all = atomic_checkpoint._write_all
        name = f'iter_{self.at}.pth'

        def write_half_then_pause(file: Any, data: bytes) -> None:
            if name not in os.path.basename(file.name):
                return write_all(file, data)
            file.write(data[:len(data) // 2])
            file.flush()
            os.fsync(file.fileno())
            self._pause()
            file.write(data[len(data) // 2:])

        atomic_checkpoint._write_all = write_half_then_pause

    def before_train_iter(self, runner, batch_idx: int, data_batch: Any = None) -> None:
        if self.point != 'step' or runner.iter + 1 != self.at:
            return
        optim_wrapper = runner.optim_wrapper
        step = optim_wrapper.step

        def pause_then_step(*args: Any, **kwargs: Any) -> None:
            self._pause()
            del optim_wrapper.step
            step(*args, **kwargs)

        optim_wrapper.step = pause_then_step

    def before_val_iter(self, runner, batch_idx: int, data_batch: Any = None) -> None:
        if self.point == 'val' and batch_idx == 0 and runner.iter == self.at:
            self._pause()


@register_hook
class SigkillRankAt(Hook):
    """Record this process's pid in ``<marker_dir>/rank<r>.pid``; rank ``rank`` then SIGKILLs
    itself at the start of iteration ``at``, after creating ``<marker_dir>/killed`` (once:
    a resumed run, which finds the marker, is not killed)."""

    priority = 'VERY_HIGH'

    def __init__(self, rank: int, at: int, marker_dir: str) -> None:
        self.rank, self.at, self.marker_dir = rank, at, marker_dir

    def before_train(self, runner) -> None:
        with open(os.path.join(self.marker_dir, f'rank{runner.rank}.pid'), 'w') as f:
            f.write(str(os.getpid()))

    def before_train_iter(self, runner, batch_idx: int, data_batch: Any = None) -> None:
        marker = os.path.join(self.marker_dir, 'killed')
        if runner.rank == self.rank and runner.iter + 1 == self.at \
                and not os.path.exists(marker):
            with open(marker, 'w') as f:
                f.write(str(os.getpid()))
            os.kill(os.getpid(), signal.SIGKILL)
