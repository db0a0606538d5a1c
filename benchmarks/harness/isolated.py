"""Training-step timing with every model in its own process, still interleaved round by round.

Timing several models in one process lets them disturb each other through the C allocator:
on CPU every step frees and re-allocates hundreds of MiB of activations and gradients, and
how often those pages must be faulted in again depends on how the models' blocks ended up
interleaved in one heap (measured: 0 page faults a step for a ScaleNet timed alone with a
memory-keeping allocator, 33,000 a step for the same model timed beside two others). Here each
model lives in a worker process (``python -m benchmarks.harness.isolated '<json>'``) that
builds it, then runs one training step per ``step`` line on its stdin and answers one JSON line
(wall and CPU seconds, page faults). The parent steps the workers in turn, A B C A B C, so
drift still hits every model alike, and only one worker computes at a time.

``keep_memory`` makes glibc keep freed memory in the process (no ``mmap`` for big blocks, no
trimming), which is what a caching allocator (CUDA's) does: after warm-up a step then faults in
no pages at all, and what is left to compare is the models' own work.
"""
import ctypes
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from typing import IO, Any, Callable, Dict, List, Mapping, Optional

from . import worker_env
from .timing import Samples

MARKER = 'SCALENET_STEP_WORKER '
# glibc mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD = -1
_M_TOP_PAD = -2
_M_MMAP_MAX = -4


def keep_freed_memory() -> None:
    """Tell glibc to serve every block from the heap and never give freed memory back.

    No ``mmap`` blocks (``M_MMAP_MAX = 0``) and no trimming of the heap top
    (``M_TRIM_THRESHOLD = -1``, glibc's "never"): a finite threshold, even 1 GiB, still returns
    the activations a large step frees at its end (DeiT-S 2x at batch 32 faulted 40,000-70,000
    pages a step back in, DeiT-B 2x at batch 32 190,000-310,000). The heap then stays at the
    largest step's size, as CUDA's caching allocator keeps its blocks. Raises RuntimeError
    where the C library is not glibc (mallopt missing or refusing).
    """
    try:
        libc = ctypes.CDLL('libc.so.6')
        ok = (libc.mallopt(_M_MMAP_MAX, 0) and libc.mallopt(_M_TRIM_THRESHOLD, -1)
              and libc.mallopt(_M_TOP_PAD, 2**28))
    except (OSError, AttributeError) as error:
        raise RuntimeError(f'keep_memory needs glibc (mallopt): {error}; run without '
                           f'--keep-memory on this system') from error
    if not ok:
        raise RuntimeError('glibc mallopt refused the keep-memory settings; run without '
                           '--keep-memory')


#: A child process that steps 1.25 GiB of tensors (freed at the end of each step) and prints
#: the page faults of each of three steps after a four-step warm-up (the heap settles within
#: three steps: blocks move up once or twice).
_FAULTS_AFTER_LARGE_STEPS = '''
import resource, sys
import torch
if sys.argv[1] == 'keep':
    from benchmarks.harness.isolated import keep_freed_memory
    keep_freed_memory()

def step():
    blocks = [torch.ones(64 << 20) for _ in range(5)]
    del blocks

for _ in range(4):
    step()
for _ in range(3):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    step()
    print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
'''


def check_keep_memory() -> Dict[str, Any]:
    """Check on this machine that ``keep_freed_memory`` stops steps from faulting pages in.

    Runs two fresh processes stepping 1.25 GiB of tensors (above the 1 GiB trim threshold an
    older setting used, which returned batch-32 activations to the OS): with glibc's defaults
    every step maps and faults its blocks anew (expected: more than half of its pages), with
    ``keep_freed_memory`` each of three steps after warm-up must fault in under 2 %. Needs
    about 2.5 GiB of memory. Returns the worst step's faults of each mode, the step's page
    count and ``ok``.
    """
    pages = 5 * (256 << 20) // resource.getpagesize()

    def worst_faults(mode: str) -> int:
        done = subprocess.run([sys.executable, '-c', _FAULTS_AFTER_LARGE_STEPS, mode],
                              capture_output=True, text=True, env=worker_env(), check=False)
        if done.returncode != 0:
            raise RuntimeError(f'the keep-memory check ({mode}) failed: {done.stderr[-2000:]}')
        return max(int(line) for line in done.stdout.split()[-3:])

    default, keep = worst_faults('default'), worst_faults('keep')
    return dict(pages_per_step=pages, default_faults=default, keep_memory_faults=keep,
                ok=default > pages // 2 and keep < pages // 50)


def _dynamo_counts() -> Dict[str, int]:
    """Graphs dynamo compiled in this process and the graph breaks it met (0 and 0 for an
    eager model); read from ``torch._dynamo.utils.counters``, dynamo's own statistics (a
    private module: torch has no public counter of graph breaks)."""
    from torch._dynamo.utils import counters
    return dict(unique_graphs=int(counters['stats']['unique_graphs']),
                graph_breaks=int(sum(counters['graph_break'].values())))


def profile_step_ops(step: Callable[[], None]) -> Dict[str, int]:
    """Run ``step`` once under ``torch.profiler`` and count what it launched: ``aten_ops``,
    the ATen operator calls (every op an eager model dispatches; a compiled graph dispatches
    only its external kernels, such as matrix products, plus its fused loops) and
    ``cuda_kernels``, the kernels that ran on a GPU (0 on the CPU): on a GPU a step of small
    kernels is bound by launching them, so their count is the figure to bring down."""
    import torch
    from torch.profiler import ProfilerActivity, profile
    activities = [ProfilerActivity.CPU]
    if torch.cuda.is_available():
        activities.append(ProfilerActivity.CUDA)
    with profile(activities=activities) as prof:
        step()
    events = prof.events()
    return dict(aten_ops=sum(1 for e in events if e.name.startswith('aten::')
                             and e.device_type == torch.autograd.DeviceType.CPU),
                cuda_kernels=sum(1 for e in events
                                 if e.device_type == torch.autograd.DeviceType.CUDA))


def _page_faults() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def serve(spec: Dict[str, Any], commands: IO[str], replies: IO[str]) -> None:
    """Worker side: build ``spec['model']``, then answer ``step`` lines until ``quit``/EOF.

    ``spec`` has the keys of the memory worker (``model, family, arch, depth, img_size,
    batch_size, device, dtype, compile, num_classes, seed, threads``), plus ``lr`` and
    ``keep_memory``.
    """
    if spec.get('keep_memory'):
        keep_freed_memory()
    from .sizes import optimizer_state_bytes
    from .timing import build_train_step

    step, optimizer = build_train_step(spec)

    def reply(message: Dict[str, Any]) -> None:
        replies.write(MARKER + json.dumps(message) + '\n')
        replies.flush()

    reply(dict(ready=True, pid=os.getpid()))
    for line in commands:
        if line.strip() == 'profile':
            reply(profile_step_ops(step))
            continue
        if line.strip() != 'step':
            break
        faults, wall, cpu = _page_faults(), time.perf_counter(), time.process_time()
        step()
        reply(dict(wall=time.perf_counter() - wall, cpu=time.process_time() - cpu,
                   page_faults=_page_faults() - faults, pid=os.getpid(),
                   optimizer_state_bytes=optimizer_state_bytes(optimizer),
                   dynamo=_dynamo_counts()))


class StepWorker:
    """Parent side of one worker process: start it, step it, stop it."""

    def __init__(self, spec: Dict[str, Any]) -> None:
        self.name = spec['model']
        # stderr goes to a file: a pipe nobody reads would block a chatty worker when full
        self.stderr = tempfile.TemporaryFile(mode='w+')
        self.process = subprocess.Popen(
            [sys.executable, '-m', __name__, json.dumps(spec)], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=self.stderr, text=True, bufsize=1, env=worker_env())
        self.pid: Optional[int] = None

    def read(self) -> Dict[str, Any]:
        """The worker's next answer; RuntimeError with its stderr if it exited instead."""
        assert self.process.stdout is not None
        for line in self.process.stdout:
            if line.startswith(MARKER):
                return json.loads(line[len(MARKER):])
        self.process.wait(timeout=60)
        self.stderr.seek(0)
        error = self.stderr.read()[-2000:]
        if self.process.returncode == -9:
            error = ('killed (SIGKILL), most likely out of memory: every worker holds its '
                     'model, gradients and optimizer state; time fewer --models at once, use a '
                     'smaller --batch-size, or drop --keep-memory. ' + error)
        raise RuntimeError(f'the timing worker for {self.name!r} exited with code '
                           f'{self.process.returncode} before answering: {error}')

    def wait_ready(self) -> None:
        self.pid = self.read()['pid']

    def send(self, command: str) -> None:
        """Send one command line (``step``, ``profile``) without waiting for the answer
        (:meth:`read` reads it), so several workers can run at once."""
        assert self.process.stdin is not None
        self.process.stdin.write(command + '\n')
        self.process.stdin.flush()

    def step(self) -> Dict[str, Any]:
        self.send('step')
        return self.read()

    def profile(self) -> Dict[str, int]:
        """One more step under the profiler: its operator and kernel counts."""
        self.send('profile')
        return self.read()

    def close(self) -> None:
        if self.process.poll() is None:
            try:
                assert self.process.stdin is not None
                self.process.stdin.write('quit\n')
                self.process.stdin.close()
                self.process.wait(timeout=60)
            except (OSError, subprocess.TimeoutExpired):
                self.process.kill()
                self.process.wait()
        self.stderr.close()


def isolated_train_times(specs: Mapping[str, Dict[str, Any]], repeats: int, warmup: int,
                         on_round: Optional[Callable[[int, Samples], None]] = None,
                         parallel_first_step: bool = False, count_ops: bool = False
                         ) -> Dict[str, Any]:
    """Interleaved training-step times with one worker process per model.

    ``parallel_first_step`` runs the first warm-up step of all workers at once (the step that
    compiles a ``torch.compile``'d model: compiling uses host cores, so the workers' compilations
    then overlap instead of adding up); every later step runs one worker at a time.

    Returns ``samples`` (a :class:`Samples` of wall and worker CPU seconds), ``page_faults``
    (per timed step and model), ``optimizer_state_bytes``, ``warmup_wall`` (the untimed steps'
    wall seconds: the first one includes a compiled model's compilation), ``dynamo`` (each
    worker's compiled graphs and graph breaks after its last step), ``ops`` (with
    ``count_ops``: each worker's :func:`profile_step_ops` of one more step) and the workers'
    ``pids``.
    """
    workers: Dict[str, StepWorker] = {}
    try:
        for name, spec in specs.items():
            workers[name] = StepWorker(spec)
        for worker in workers.values():  # built in parallel, then only one computes at a time
            worker.wait_ready()
        warmup_wall: Dict[str, List[float]] = {name: [] for name in workers}
        for round_index in range(warmup):
            if round_index == 0 and parallel_first_step:
                for worker in workers.values():
                    worker.send('step')
                for name, worker in workers.items():
                    warmup_wall[name].append(worker.read()['wall'])
                continue
            for name, worker in workers.items():
                warmup_wall[name].append(worker.step()['wall'])
        samples = Samples(wall={name: [] for name in workers}, cpu={name: [] for name in workers})
        faults: Dict[str, List[int]] = {name: [] for name in workers}
        state: Dict[str, int] = {}
        dynamo: Dict[str, Dict[str, int]] = {}
        for round_index in range(repeats):
            for name, worker in workers.items():
                answer = worker.step()
                samples.wall[name].append(answer['wall'])
                samples.cpu[name].append(answer['cpu'])
                faults[name].append(answer['page_faults'])
                state[name] = answer['optimizer_state_bytes']
                dynamo[name] = answer['dynamo']
            if on_round is not None:
                on_round(round_index, samples)
        ops = ({name: worker.profile() for name, worker in workers.items()} if count_ops
               else {})
        return dict(samples=samples, page_faults=faults, optimizer_state_bytes=state, ops=ops,
                    warmup_wall=warmup_wall, dynamo=dynamo,
                    pids={name: worker.pid for name, worker in workers.items()})
    finally:
        for worker in workers.values():
            worker.close()


if __name__ == '__main__':
    import warnings
    warnings.filterwarnings('ignore')
    serve(json.loads(sys.argv[1]), sys.stdin, sys.stdout)
