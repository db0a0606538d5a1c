"""The scheduling loop of the experiments: runs as ``tools/train.py`` then ``tools/test.py``
subprocesses, with dependencies, reuse, resume and atomic results.

Both the classification experiment (:class:`experiments.scalenet_evidence.execute.Executor`)
and the detection one (:class:`experiments.det_evidence.execute.DetExecutor`) subclass
:class:`RunExecutor`; they say what a run's commands and results are, this class decides when
each starts. A *run* is any object with ``name``, ``work_dir`` and ``depends_on`` (the name of
the run that must finish first, or None).

The loop: a pending run whose dependency failed is recorded as skipped; one whose saved
result is still valid (:meth:`RunExecutor.reusable`) is reused; otherwise, while fewer than
``jobs`` runs are active, it starts (:meth:`RunExecutor.start`). A finished training
subprocess either ends the run or starts its test phase in the same slot
(:meth:`RunExecutor.after_train`); the finished run's result is written atomically to
``<work_dir>/result.json``. On an interruption every subprocess is terminated.
"""
import json
import os
import os.path as osp
import subprocess
import threading
import time
from dataclasses import dataclass, field
from typing import IO, Any, Callable, Dict, List, Optional

from scalenet_mm.engine.atomic_checkpoint import atomic_write

RESULT_FILE = 'result.json'


def read_json(path: str) -> Optional[Dict[str, Any]]:
    """A JSON file's content, or None when it is missing or unreadable (a stale leftover)."""
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


@dataclass
class Active:
    """A run in progress: its current subprocess, phase and the result collected so far."""
    run: Any
    phase: str = 'train'  # then 'test' (and any further evaluation phase of the subclass)
    process: Optional[subprocess.Popen] = None
    out: Optional[IO[str]] = None
    start: float = 0.0
    result: Dict[str, Any] = field(default_factory=dict)


class RunExecutor:
    """Launches runs when their dependency is done, at most ``jobs`` at a time.

    Args:
        runs: the planned runs.
        jobs: concurrent runs.
        threads: ``OMP_NUM_THREADS`` / ``MKL_NUM_THREADS`` of each subprocess.
        reuse: reuse valid results and resume interrupted runs (subclasses read it).
        log: receives one line per event.
        echo: also copy every subprocess's output to this process's stdout, line by line as
            it comes (with several jobs, each line starts with its run's name).
    """

    def __init__(self, runs: List[Any], jobs: int = 2, threads: int = 1, reuse: bool = True,
                 log: Callable[[str], None] = print, echo: bool = False) -> None:
        self.runs = {run.name: run for run in runs}
        self.jobs = max(1, jobs)
        self.threads = max(1, threads)
        self.reuse = reuse
        self.log = log
        self.echo = echo
        # echo: one reader thread per subprocess copies its output (pid -> thread), and the
        # lock keeps the lines of concurrent runs whole on stdout
        self._readers: Dict[int, threading.Thread] = {}
        self._stdout_lock = threading.Lock()
        self.results: Dict[str, Dict[str, Any]] = {}

    # ------------------------------------------------------------------ for subclasses
    def identity(self, run: Any) -> Dict[str, Any]:
        """The fields every result of ``run`` starts with."""
        return dict(run=run.name)

    def reusable(self, run: Any) -> Optional[Dict[str, Any]]:
        """The run's saved result when it is still valid (then the run is not started)."""
        return None

    def start(self, run: Any) -> Active:
        """Start the run's first subprocess (:meth:`spawn`) and return it as :class:`Active`."""
        raise NotImplementedError

    def after_train(self, entry: Active, code: int, wall: float, cpu: float) -> bool:
        """Record the training phase in ``entry.result``; start the test phase
        (``entry.process``, ``entry.phase = 'test'``) and return True, or return False when
        the run ends here."""
        raise NotImplementedError

    def after_test(self, entry: Active, code: int, wall: float, cpu: float) -> Optional[bool]:
        """Record a test phase in ``entry.result``; return True when it started another
        evaluation subprocess (``entry.process``, a new ``entry.phase``) in the same slot,
        which comes back here when it ends; anything else ends the run."""
        raise NotImplementedError

    def describe(self, run: Any, result: Dict[str, Any]) -> str:
        """The log line of a finished run (after its name)."""
        return str(result.get('status'))

    def summary(self, result: Dict[str, Any]) -> str:
        """The headline numbers of a result (logged when it is reused)."""
        return str(result.get('status'))

    # ------------------------------------------------------------------ shared pieces
    def env(self) -> Dict[str, str]:
        """The subprocesses' environment: this one with the thread limits."""
        env = dict(os.environ)
        env['OMP_NUM_THREADS'] = env['MKL_NUM_THREADS'] = str(self.threads)
        return env

    def spawn(self, command: List[str], out: IO[str], cwd: str,
              name: str = '') -> subprocess.Popen:
        """Start ``command`` with its output going to ``out`` (and to stdout with ``echo``,
        each line prefixed with ``[name]`` when several runs may be active)."""
        out.write('$ ' + ' '.join(command) + '\n')
        out.flush()
        if not self.echo:
            return subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT,
                                    env=self.env(), cwd=cwd)
        prefix = f'[{name}] ' if name and self.jobs > 1 else ''
        with self._stdout_lock:
            print(f'\n{prefix}[experiment] $ {" ".join(command)}', flush=True)
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                   env=self.env(), cwd=cwd, text=True, bufsize=1)
        reader = threading.Thread(target=self._copy_output, args=(process, out, prefix),
                                  daemon=True)
        reader.start()
        self._readers[process.pid] = reader
        return process

    def _copy_output(self, process: subprocess.Popen, out: IO[str], prefix: str) -> None:
        """Copy a subprocess's output to its log file and to stdout until it closes."""
        for line in process.stdout:
            out.write(line)
            with self._stdout_lock:
                print(prefix + line, end='', flush=True)

    def finish(self, run: Any, result: Dict[str, Any]) -> None:
        """Record the result, atomically: a kill never leaves a half file behind."""
        self.results[run.name] = result
        atomic_write(osp.join(run.work_dir, RESULT_FILE), json.dumps(result, indent=1))
        self.log(f'[{run.name}] {self.describe(run, result)}')

    # ------------------------------------------------------------------ the loop
    def _start_ready(self, pending: List[Any], active: Dict[str, Active]) -> None:
        for run in list(pending):
            dep = run.depends_on
            if dep is not None and dep not in self.results:
                continue
            if dep is not None and self.results[dep].get('status') != 'ok':
                pending.remove(run)
                self.results[run.name] = dict(self.identity(run), status='skipped',
                                              error=f'{dep} did not finish')
                self.log(f'[{run.name}] skipped: {dep} did not finish')
                continue
            old = self.reusable(run) if self.reuse else None
            if old is not None:
                pending.remove(run)
                self.results[run.name] = old
                self.log(f'[{run.name}] reused: {self.summary(old)}')
                continue
            if len(active) >= self.jobs:
                continue
            pending.remove(run)
            try:
                active[run.name] = self.start(run)
            except Exception as error:  # one broken run must not stop the others
                self.results[run.name] = dict(self.identity(run), status='failed',
                                              error=f'{type(error).__name__}: {error}')
                self.log(f'[{run.name}] failed to start: {error}')

    def _collect_finished(self, active: Dict[str, Active]) -> None:
        for name, entry in list(active.items()):
            # wait4 (not Popen.poll) to get the CPU time: wall time depends on the load
            pid, status, usage = os.wait4(entry.process.pid, os.WNOHANG)
            if pid == 0:
                continue
            reader = self._readers.pop(pid, None)
            if reader is not None:  # the rest of its output, before its log file closes
                reader.join()
            code = os.waitstatus_to_exitcode(status)
            entry.process.returncode = code
            entry.out.close()
            wall, cpu = time.time() - entry.start, usage.ru_utime + usage.ru_stime
            if entry.phase == 'train':
                if self.after_train(entry, code, wall, cpu):
                    continue  # the test phase runs in the same slot
            elif self.after_test(entry, code, wall, cpu):
                continue  # a further evaluation phase runs in the same slot
            del active[name]
            self.finish(entry.run, entry.result)

    def run_all(self) -> Dict[str, Dict[str, Any]]:
        """Run (or reuse) every run; returns ``{run name: result}`` (failed and skipped runs
        included). On an interruption the subprocesses are terminated; their runs resume
        from their last checkpoint on the next invocation."""
        pending = list(self.runs.values())
        active: Dict[str, Active] = {}
        try:
            while pending or active:
                self._start_ready(pending, active)
                self._collect_finished(active)
                if active:
                    time.sleep(0.5)
        finally:
            for entry in active.values():
                entry.process.terminate()
                entry.process.wait()
                entry.out.close()
        return self.results
