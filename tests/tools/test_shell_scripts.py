"""The shell entry points: tools/run_tests.sh and .ci/run (with stand-ins for the install
and for pytest, so their own logic is what is tested), the usage errors of the launch
scripts, and tools/slurm_train.sh / slurm_test.sh through a stand-in ``srun``."""
import os
import shutil
import stat
import subprocess
from pathlib import Path
from typing import Dict, Optional

import pytest


def write_script(path: Path, body: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('#!/usr/bin/env bash\n' + body)
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return path


def run_bash(script: Path, *args: str, env: Optional[Dict[str, str]] = None,
             cwd: Optional[Path] = None) -> subprocess.CompletedProcess:
    full_env = {k: v for k, v in os.environ.items()
                if k not in ('SCALENET_WHEEL_DIR', 'SCALENET_VENV')}
    full_env.update(env or {})
    return subprocess.run(['bash', str(script), *args], env=full_env, cwd=cwd,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          timeout=120, check=False)


@pytest.fixture
def stub_clone(tmp_path: Path, repo_root: Path) -> Path:
    """``<tmp>/clone`` with the real .ci/run and tools/run_tests.sh; setup_env.sh is a stub
    that logs its call, SCALENET_WHEEL_DIR and whether its wheel cache starts empty to
    ``calls.log``; test_method_torch_only.sh is a stub that logs its arguments."""
    clone = tmp_path / 'clone'
    for rel in ('.ci/run', 'tools/run_tests.sh'):
        (clone / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(repo_root / rel, clone / rel)
    write_script(clone / 'tools/setup_env.sh',
                 'cache=empty; [ -z "$(ls -A "$SCALENET_WHEEL_CACHE" 2>/dev/null)" ] || cache=used\n'
                 'case "$SCALENET_WHEEL_CACHE" in "$HOME"/*) cache=home;; esac\n'
                 'echo "setup wheel_dir=${SCALENET_WHEEL_DIR:-unset} cache=$cache" >> "$CALLS"\n'
                 'exit "${SETUP_RC:-0}"\n')
    write_script(clone / 'tools/test_method_torch_only.sh',
                 'echo "torch-only $1 $2" >> "$CALLS"; exit "${TORCH_ONLY_RC:-0}"\n')
    return clone


def test_run_tests_installs_then_passes_args_to_pytest(tmp_path: Path, stub_clone: Path) -> None:
    calls = tmp_path / 'calls.log'
    venv = tmp_path / 'venv'
    write_script(venv / 'bin/python',
                 'printf "python cwd=%s" "$PWD" >> "$CALLS"; printf " [%s]" "$@" >> "$CALLS"\n'
                 'echo >> "$CALLS"; exit "${PYTEST_RC:-0}"\n')
    env = dict(CALLS=str(calls), SCALENET_VENV=str(venv), PYTEST_RC='3')
    proc = run_bash(stub_clone / 'tools/run_tests.sh', '-m', 'not slow', '-x', env=env)
    assert proc.returncode == 3, proc.stdout  # pytest's exit status comes back
    lines = calls.read_text().splitlines()
    assert lines[0].startswith('setup')
    assert lines[1] == f'python cwd={stub_clone} [-m] [pytest] [-m] [not slow] [-x]'


@pytest.mark.parametrize('pytest_rc,ci_rc,message', [
    (0, 0, '[ci] OK'),
    (1, 1, 'exited with code 1'),
    (5, 1, 'collected no tests'),
])
def test_ci_run_exit_codes(tmp_path: Path, stub_clone: Path, pytest_rc: int, ci_rc: int,
                           message: str) -> None:
    calls = tmp_path / 'calls.log'
    write_script(stub_clone / 'tools/run_tests.sh',
                 'echo "tests $*" >> "$CALLS"; exit "$PYTEST_RC"\n')
    proc = run_bash(stub_clone / '.ci/run', env=dict(CALLS=str(calls), CI='true',
                                                     PYTEST_RC=str(pytest_rc)))
    assert proc.returncode == ci_rc, proc.stdout
    assert message in proc.stdout
    lines = calls.read_text().splitlines()
    assert lines[0] == 'setup wheel_dir=unset cache=empty'
    assert lines[1].startswith('tests')
    if ci_rc == 0:  # the method layer on other torch releases, after the suite passed
        assert lines[2:] == ['torch-only 2.15.0 python3.12', 'torch-only 2.4.1 python3.10']
    else:
        assert len(lines) == 2


def test_ci_run_takes_the_fresh_machine_path(tmp_path: Path, stub_clone: Path) -> None:
    """Prebuilt wheels beside the clone (../shared/wheels) and a wheel offered by the caller are
    not used: CI builds mmcv into an empty temporary cache, as on a user's first install."""
    calls = tmp_path / 'calls.log'
    (tmp_path / 'shared' / 'wheels').mkdir(parents=True)
    (tmp_path / 'shared' / 'wheels' / 'mmcv-2.1.0-cp311-cp311-linux_x86_64.whl').write_text('x')
    write_script(stub_clone / 'tools/run_tests.sh', 'exit 0\n')
    proc = run_bash(stub_clone / '.ci/run', env=dict(CALLS=str(calls),
                                                     SCALENET_WHEEL_DIR=str(tmp_path / 'shared')))
    assert proc.returncode == 0, proc.stdout
    assert calls.read_text().splitlines()[0] == 'setup wheel_dir=unset cache=empty'


def test_ci_run_fails_when_a_torch_only_run_fails(tmp_path: Path, stub_clone: Path) -> None:
    calls = tmp_path / 'calls.log'
    write_script(stub_clone / 'tools/run_tests.sh', 'exit 0\n')
    proc = run_bash(stub_clone / '.ci/run', env=dict(CALLS=str(calls), TORCH_ONLY_RC='1'))
    assert proc.returncode == 1 and 'the method tests on torch 2.15.0' in proc.stdout


def test_ci_run_stops_when_install_fails(tmp_path: Path, stub_clone: Path) -> None:
    calls = tmp_path / 'calls.log'
    write_script(stub_clone / 'tools/run_tests.sh', 'echo tests >> "$CALLS"\n')
    proc = run_bash(stub_clone / '.ci/run', env=dict(CALLS=str(calls), SETUP_RC='1'))
    assert proc.returncode != 0 and 'setup_env.sh' in proc.stdout
    assert 'tests' not in calls.read_text()


@pytest.mark.parametrize('script,args', [
    ('tools/dist_train.sh', ['cfg.py']),
    ('tools/dist_test.sh', ['cfg.py', 'ckpt.pth']),
    ('tools/slurm_train.sh', ['partition', 'job', 'cfg.py']),
    ('tools/slurm_test.sh', ['partition', 'job', 'cfg.py']),
])
def test_launch_scripts_print_usage(repo_root: Path, script: str, args) -> None:
    proc = run_bash(repo_root / script, *args)
    assert proc.returncode == 2 and 'Usage:' in proc.stdout


def test_dist_train_rejects_bad_process_count(repo_root: Path) -> None:
    proc = run_bash(repo_root / 'tools/dist_train.sh', 'cfg.py', 'two')
    assert proc.returncode == 2 and "'two'" in proc.stdout


FAKE_SRUN = '''echo "$@" >> "$SRUN_LOG"
# Skip srun's own options up to the interpreter, then run the task as Slurm would (1 task).
while [[ $# -gt 0 && "$1" != "$PYTHON" ]]; do shift; done
export SLURM_PROCID=0 SLURM_NTASKS=1 SLURM_LOCALID=0 SLURM_NODELIST=localhost
export MASTER_ADDR=127.0.0.1 MASTER_PORT="$FAKE_SRUN_PORT"
exec "$@"
'''


@pytest.mark.slow
def test_slurm_scripts_through_srun(tmp_path: Path, tiny_cls_config: Path,
                                    trained_tiny_cls: Path, unused_port: int,
                                    run_tool) -> None:
    bin_dir = tmp_path / 'bin'
    write_script(bin_dir / 'srun', FAKE_SRUN)
    log = tmp_path / 'srun.log'
    env = dict(PATH=f'{bin_dir}{os.pathsep}{os.environ["PATH"]}', SRUN_LOG=str(log),
               FAKE_SRUN_PORT=str(unused_port), GPUS='1', GPUS_PER_NODE='0',
               TASKS_PER_NODE='1', CPUS_PER_TASK='1')
    work_dir = tmp_path / 'work'
    proc = run_tool(['bash', 'tools/slurm_train.sh', 'cpu', 'tiny', tiny_cls_config, work_dir,
                     '--cfg-options', 'train_cfg.max_iters=2'], env=env)
    srun_args = log.read_text().splitlines()[0]
    assert srun_args.startswith('-p cpu --job-name=tiny --ntasks=1 --ntasks-per-node=1')
    assert '--gres' not in srun_args  # GPUS_PER_NODE=0: a CPU-only job
    assert '--launcher=slurm' in srun_args
    assert 'Distributed launcher: slurm' in proc.stdout
    assert (work_dir / 'iter_2.pth').is_file()

    proc = run_tool(['bash', 'tools/slurm_test.sh', 'cpu', 'tiny-test', tiny_cls_config,
                     trained_tiny_cls / 'iter_4.pth', '--work-dir', tmp_path / 'test',
                     # a Runner checkpoint of another work dir: trusted explicitly
                     '--trust-checkpoint', trained_tiny_cls / 'iter_4.pth'],
                    env=env)
    assert 'accuracy/top1' in proc.stdout and 'accuracy/top5' in proc.stdout
