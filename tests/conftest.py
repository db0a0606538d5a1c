"""Shared fixtures: a generated ImageFolder dataset, the tiny classifier config written
against it, and a helper that runs the project's command-line tools in subprocesses."""
import os
import os.path as osp
import runpy
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence

import cv2
import numpy as np
import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
# The research harness (``benchmarks/``, ``experiments/``) is not installed; its tests import
# it from the checkout. Appended, so an installed scalenet_mm is not shadowed.
if str(REPO_ROOT) not in sys.path:
    sys.path.append(str(REPO_ROOT))
TESTS_DATA = REPO_ROOT / 'tests' / 'data'
TINY_CLS_CONFIG = TESTS_DATA / 'configs' / 'tiny_scalenet_cls.py'
#: Classes of the generated dataset: at least 5, so top-5 accuracy is defined.
TINY_CLASSES = ('circle', 'square', 'bar', 'cross', 'dots')
TINY_TRAIN_PER_CLASS = 4
TINY_VAL_PER_CLASS = 2


def _draw(cls_index: int, rng: np.random.Generator, size: int = 32) -> np.ndarray:
    """A noisy 32x32 BGR image whose shape and colour depend on the class."""
    img = rng.integers(0, 60, size=(size, size, 3), dtype=np.uint8)
    colour = tuple(int(c) for c in np.roll([230, 120, 40], cls_index))
    centre = size // 2 + int(rng.integers(-3, 4))
    if cls_index == 0:
        cv2.circle(img, (centre, centre), 9, colour, -1)
    elif cls_index == 1:
        cv2.rectangle(img, (centre - 8, centre - 8), (centre + 8, centre + 8), colour, -1)
    elif cls_index == 2:
        cv2.rectangle(img, (4, centre - 3), (size - 4, centre + 3), colour, -1)
    elif cls_index == 3:
        cv2.line(img, (4, 4), (size - 4, size - 4), colour, 3)
        cv2.line(img, (4, size - 4), (size - 4, 4), colour, 3)
    else:
        for x in (8, 16, 24):
            cv2.circle(img, (x, centre), 3, colour, -1)
    return img


def make_imagefolder(root: Path, seed: int = 0) -> Path:
    """Write ``root/{train,val}/<class>/<class>_<n>.png`` for :data:`TINY_CLASSES` and return root."""
    rng = np.random.default_rng(seed)
    for split, count in (('train', TINY_TRAIN_PER_CLASS), ('val', TINY_VAL_PER_CLASS)):
        for index, name in enumerate(TINY_CLASSES):
            folder = root / split / name
            folder.mkdir(parents=True, exist_ok=True)
            for n in range(count):
                # Unique file names: mmpretrain's visualizer names its output by basename.
                assert cv2.imwrite(str(folder / f'{name}_{n:03d}.png'), _draw(index, rng))
    return root


@pytest.fixture(autouse=True)
def stack_fixes_off_after_each_test() -> Iterator[None]:
    """Every test starts with mmengine as `import scalenet_mm` leaves it: a test (or a tool run
    in-process) that called scalenet_mm.runtime.install() is undone afterwards, and so is what a
    run that stopped in-process before its hooks' after_run left (SafeCheckpointHook's scoped
    loader and trusted work dir)."""
    from scalenet_mm.private_api import checkpoint_schemes
    from scalenet_mm.runtime import checkpoint_loading, uninstall
    schemes_before = dict(checkpoint_schemes())
    trusted_before = list(checkpoint_loading._TRUSTED)
    yield
    uninstall()
    schemes = checkpoint_schemes()
    schemes.clear()
    schemes.update(schemes_before)
    checkpoint_loading._TRUSTED[:] = trusted_before


@pytest.fixture(scope='session')
def tiny_imagefolder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An ImageFolder-style dataset (5 classes, 4 train + 2 val 32x32 PNGs each) that
    mmpretrain's ``CustomDataset(data_root=..., data_prefix='train'|'val')`` reads."""
    return make_imagefolder(tmp_path_factory.mktemp('tiny_imagefolder'))


def write_tiny_cls_config(path: Path, data_root: Path, extra: str = '') -> Path:
    """Write a config inheriting ``tests/data/configs/tiny_scalenet_cls.py`` that reads
    ``data_root``; ``extra`` is appended verbatim (more overrides)."""
    path.write_text(
        f"_base_ = [{str(TINY_CLS_CONFIG)!r}]\n"
        f"data_root = {str(data_root)!r}\n"
        "train_dataloader = dict(dataset=dict(data_root=data_root))\n"
        "val_dataloader = dict(dataset=dict(data_root=data_root))\n"
        "test_dataloader = dict(dataset=dict(data_root=data_root))\n" + extra)
    return path


@pytest.fixture(scope='session')
def tiny_cls_config(tmp_path_factory: pytest.TempPathFactory, tiny_imagefolder: Path) -> Path:
    """The tiny ScaleNet classifier config (2 shared layers run as 4 instances, 32 px,
    4 iterations, checkpoints every 2) reading :func:`tiny_imagefolder`."""
    return write_tiny_cls_config(
        tmp_path_factory.mktemp('configs') / 'tiny_scalenet_cls.py', tiny_imagefolder)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def tool_env(extra: Optional[Dict[str, str]] = None,
             pythonpath: Sequence[Path] = ()) -> Dict[str, str]:
    """The environment for a tool subprocess: one thread per process, this interpreter."""
    env = dict(os.environ)
    env.update(OMP_NUM_THREADS='1', MKL_NUM_THREADS='1', PYTHON=sys.executable,
               PYTHONUNBUFFERED='1')
    paths = [str(p) for p in pythonpath]
    if env.get('PYTHONPATH'):
        paths.append(env['PYTHONPATH'])
    if paths:
        env['PYTHONPATH'] = os.pathsep.join(paths)
    env.pop('LOCAL_RANK', None)
    env.update(extra or {})
    return env


@pytest.fixture
def unused_port() -> int:
    """A free TCP port for a rendezvous (torchrun's master port)."""
    return free_port()


@pytest.fixture(scope='session')
def repo_root() -> Path:
    """The repository root (tools run from there)."""
    return REPO_ROOT


@pytest.fixture(scope='session')
def cls_config_writer() -> Callable[..., Path]:
    """:func:`write_tiny_cls_config`: ``writer(path, data_root, extra='') -> path``."""
    return write_tiny_cls_config


@pytest.fixture(scope='session')
def tool_environment() -> Callable[..., Dict[str, str]]:
    """:func:`tool_env`, for tests that start tools with ``subprocess.Popen`` themselves."""
    return tool_env


@pytest.fixture
def run_tool_inprocess(monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    """Run ``tools/<name>.py`` as ``__main__`` in this process with the given arguments
    (cheap: no new interpreter; exceptions propagate to the test)."""

    def run(script: str, *args: object) -> None:
        monkeypatch.setattr(sys, 'argv', [script] + [str(a) for a in args])
        monkeypatch.setenv('LOCAL_RANK', '0')  # the tools set it; undone after the test
        runpy.run_path(str(REPO_ROOT / script), run_name='__main__')

    return run


RunScript = Callable[..., str]


@pytest.fixture(scope='session')
def run_script() -> RunScript:
    """Run a repository script (``benchmarks/lora_cost.py``, ...) as ``__main__`` in this
    process: ``run_script(script, args, capture=False) -> stdout``.

    ``sys.argv`` and torch's thread count (the benchmark tools set it with ``--threads``) are
    restored afterwards; exceptions, ``SystemExit`` included, reach the test, and stderr is
    left to ``capsys``. With ``capture`` stdout is collected and returned (for module-scoped
    fixtures, which cannot use ``capsys``); otherwise it goes to ``capsys`` and ``''`` is
    returned. Session-scoped, so module-scoped fixtures can use it.
    """
    import contextlib
    import io

    import torch

    def run(script: str, args: Sequence[object], capture: bool = False) -> str:
        path = REPO_ROOT / script
        old_argv, old_threads = sys.argv, torch.get_num_threads()
        sys.argv = [str(path)] + [str(a) for a in args]
        buffer = io.StringIO()
        try:
            with contextlib.redirect_stdout(buffer) if capture else contextlib.nullcontext():
                runpy.run_path(str(path), run_name='__main__')
        finally:
            sys.argv = old_argv
            torch.set_num_threads(old_threads)
        return buffer.getvalue()

    return run


RunTool = Callable[..., subprocess.CompletedProcess]


@pytest.fixture(scope='session')
def run_tool() -> RunTool:
    """Run a command from the repository root and return the finished process.

    ``run_tool(args, check=True, timeout=300, env=None, pythonpath=())``: ``args`` is a list
    (``['tools/train.py', cfg, ...]`` runs with this interpreter; ``['bash', ...]`` as is).
    With ``check`` a non-zero exit fails the test and shows the output's tail.
    """

    def run(args: List[str], check: bool = True, timeout: float = 300,
            env: Optional[Dict[str, str]] = None,
            pythonpath: Sequence[Path] = ()) -> subprocess.CompletedProcess:
        args = [str(a) for a in args]
        if args[0].endswith('.py'):
            args = [sys.executable] + args
        proc = subprocess.run(args, cwd=REPO_ROOT, env=tool_env(env, pythonpath),
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              timeout=timeout, check=False)
        if check and proc.returncode != 0:
            pytest.fail(f'{" ".join(args)} exited with {proc.returncode}:\n'
                        f'{proc.stdout[-6000:]}')
        return proc

    return run


@pytest.fixture(scope='session')
def trained_tiny_cls(tmp_path_factory: pytest.TempPathFactory, tiny_cls_config: Path,
                     run_tool: RunTool) -> Path:
    """A work dir where ``tools/train.py`` trained the tiny classifier for 4 iterations
    (``iter_2.pth``, ``iter_4.pth``, ``last_checkpoint``, logs). Treat it as read-only."""
    work_dir = tmp_path_factory.mktemp('trained_tiny_cls')
    run_tool(['tools/train.py', tiny_cls_config, '--work-dir', work_dir])
    assert osp.isfile(work_dir / 'iter_4.pth'), sorted(os.listdir(work_dir))
    return work_dir


@pytest.fixture
def file_server() -> Iterator[Any]:
    """A real HTTP server on 127.0.0.1 that serves the bytes a test gives it
    (``tests/checkpoint/ckpt_helpers.FileServer``), closed after the test."""
    helpers = str(REPO_ROOT / 'tests' / 'checkpoint')
    if helpers not in sys.path:
        sys.path.append(helpers)
    from ckpt_helpers import FileServer
    server = FileServer()
    try:
        yield server
    finally:
        server.close()
