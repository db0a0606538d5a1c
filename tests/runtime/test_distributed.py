"""CPU-only distributed setup: which configs change, and how, with and without a GPU."""
from typing import Dict

import pytest
import torch
from mmengine.config import Config

from scalenet_mm.runtime import distributed
from scalenet_mm.runtime.distributed import (cpu_model_wrapper_cfg, export_launcher_env,
                                             needs_cpu_distributed, setup_distributed)


def make_cfg(**extra) -> Config:
    return Config(dict(env_cfg=dict(dist_cfg=dict(backend='nccl', timeout=60)), **extra))


@pytest.fixture
def no_cuda(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)


@pytest.fixture
def with_cuda(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)


def test_needs_cpu_distributed(no_cuda) -> None:
    assert not needs_cpu_distributed('none')
    assert needs_cpu_distributed('pytorch') and needs_cpu_distributed('slurm')
    with pytest.raises(ValueError, match="'torchrun'"):
        needs_cpu_distributed('torchrun')


def test_gpu_machine_is_left_alone(with_cuda, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(distributed, 'init_cpu_process_group',
                        lambda *a, **k: pytest.fail('must not init a process group'))
    cfg = make_cfg(launcher='pytorch')
    before = cfg.to_dict()
    assert setup_distributed(cfg) is False
    assert cfg.to_dict() == before


def test_launcher_none_is_left_alone(no_cuda) -> None:
    cfg = make_cfg(launcher='none')
    before = cfg.to_dict()
    assert setup_distributed(cfg) is False
    assert cfg.to_dict() == before


def test_cpu_setup_uses_gloo_and_cpu_ddp(no_cuda, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    monkeypatch.setattr(distributed, 'init_cpu_process_group', lambda dist_cfg: calls.append(
        dict(dist_cfg)))
    monkeypatch.setattr(distributed, 'export_launcher_env', lambda launcher: None)
    cfg = make_cfg(launcher='pytorch', find_unused_parameters=True)
    assert setup_distributed(cfg) is True
    assert cfg.env_cfg.dist_cfg.backend == 'gloo' and cfg.env_cfg.dist_cfg.timeout == 60
    assert cfg.model_wrapper_cfg == dict(type='MMDistributedDataParallel', device_ids=None,
                                         broadcast_buffers=False, find_unused_parameters=True)
    assert calls == [dict(backend='gloo', timeout=60)]


def test_wrapper_keeps_user_keys() -> None:
    cfg = Config(dict(model_wrapper_cfg=dict(type='MMDistributedDataParallel',
                                             find_unused_parameters=True, device_ids=[3])))
    assert cpu_model_wrapper_cfg(cfg) == dict(
        type='MMDistributedDataParallel', find_unused_parameters=True, device_ids=None)


def test_wrapper_refuses_non_ddp() -> None:
    cfg = Config(dict(model_wrapper_cfg=dict(type='MMFullyShardedDataParallel')))
    with pytest.raises(ValueError, match='MMFullyShardedDataParallel'):
        cpu_model_wrapper_cfg(cfg)


def test_slurm_env_is_exported() -> None:
    env: Dict[str, str] = dict(SLURM_PROCID='3', SLURM_NTASKS='4', SLURM_LOCALID='1',
                               SLURM_NODELIST='node[1-2]', MASTER_ADDR='10.0.0.1')
    export_launcher_env('slurm', env)
    assert (env['RANK'], env['WORLD_SIZE'], env['LOCAL_RANK']) == ('3', '4', '1')
    assert (env['MASTER_ADDR'], env['MASTER_PORT']) == ('10.0.0.1', '29500')


def test_mpi_env_is_exported() -> None:
    env = dict(OMPI_COMM_WORLD_RANK='1', OMPI_COMM_WORLD_SIZE='2',
               OMPI_COMM_WORLD_LOCAL_RANK='1', MASTER_ADDR='127.0.0.1', MASTER_PORT='1234')
    export_launcher_env('mpi', env)
    assert (env['RANK'], env['WORLD_SIZE'], env['LOCAL_RANK']) == ('1', '2', '1')
    assert env['MASTER_PORT'] == '1234'


def test_missing_launcher_variable_is_named() -> None:
    with pytest.raises(KeyError, match='SLURM_PROCID'):
        export_launcher_env('slurm', {})
    with pytest.raises(KeyError, match='MASTER_ADDR'):
        export_launcher_env('pytorch', dict(RANK='0', WORLD_SIZE='1'))


def test_shutdown_tears_the_process_group_down(tmp_path) -> None:
    """After a job, the default group is destroyed (ranks leave together); without one it is
    a no-op, so tools/train.py and tools/test.py can call it in every mode."""
    distributed.shutdown_distributed()  # nothing initialised: no error
    store = torch.distributed.FileStore(str(tmp_path / 'store'), 1)
    torch.distributed.init_process_group('gloo', store=store, rank=0, world_size=1)
    assert torch.distributed.is_initialized()
    distributed.shutdown_distributed()
    assert not torch.distributed.is_initialized()
