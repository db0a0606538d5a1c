"""Distributed training and testing on machines without a GPU (gloo, CPU DDP).

mmengine 0.10.7 assumes a GPU whenever ``launcher != 'none'``: its ``init_dist`` calls
``torch.cuda.set_device`` unconditionally (``Found no NVIDIA driver``), even with
``env_cfg.dist_cfg.backend='gloo'``, and its Runner wraps the model in DDP with
``device_ids=[LOCAL_RANK]``, which DDP refuses for a CPU module.

:func:`setup_distributed` works around both, before the Runner is built:

* it initialises the default process group itself with the gloo backend (the Runner sees
  ``torch.distributed.is_initialized()`` and skips its own ``init_dist``);
* it sets ``cfg.model_wrapper_cfg`` to ``MMDistributedDataParallel`` with ``device_ids=None``
  (a CPU model), keeping the user's keys (``find_unused_parameters``, ...). The Runner has no
  keyword for this; only the config reaches ``Runner.wrap_model``.

On a machine with CUDA, or with ``launcher='none'``, nothing is changed: mmengine's own
nccl setup with one device per process is used as usual.
"""
import datetime
import os
import subprocess
from typing import Any, Dict, Mapping, MutableMapping, Optional

import torch
import torch.distributed as torch_dist
from mmengine.config import Config, ConfigDict
from mmengine.model import MMDistributedDataParallel
from mmengine.registry import MODEL_WRAPPERS
from torch.nn.parallel import DistributedDataParallel

LAUNCHERS = ('none', 'pytorch', 'slurm', 'mpi')
CPU_BACKEND = 'gloo'


def needs_cpu_distributed(launcher: str) -> bool:
    """Return True when ``launcher`` asks for distributed work and no CUDA device exists."""
    if launcher not in LAUNCHERS:
        raise ValueError(f'launcher={launcher!r} is not supported; use one of {LAUNCHERS}')
    return launcher != 'none' and not torch.cuda.is_available()


def export_launcher_env(launcher: str, environ: Optional[MutableMapping[str, str]] = None
                        ) -> None:
    """Set ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR/PORT`` for ``env://`` init.

    torchrun (``launcher='pytorch'``) sets them itself. For slurm and mpi they are derived
    from the launcher's variables, as mmengine's ``init_dist`` does, without its
    ``torch.cuda.set_device`` call. Values already present are kept.

    Args:
        launcher: ``'pytorch'``, ``'slurm'`` or ``'mpi'``.
        environ: the mapping to read and update (default: ``os.environ``).

    Raises:
        KeyError: when a variable the launcher must provide is missing, naming it.
    """
    env = os.environ if environ is None else environ

    def need(name: str) -> str:
        if name not in env:
            raise KeyError(f'launcher={launcher!r} needs the environment variable {name}, '
                           f'which is not set. Start the job with the matching launcher '
                           f'(tools/dist_train.sh for pytorch, tools/slurm_train.sh for slurm).')
        return env[name]

    if launcher == 'pytorch':
        for name in ('RANK', 'WORLD_SIZE', 'MASTER_ADDR', 'MASTER_PORT'):
            need(name)
        env.setdefault('LOCAL_RANK', '0')
    elif launcher == 'slurm':
        env.setdefault('RANK', need('SLURM_PROCID'))
        env.setdefault('WORLD_SIZE', need('SLURM_NTASKS'))
        env.setdefault('LOCAL_RANK', env.get('SLURM_LOCALID', '0'))
        env.setdefault('MASTER_PORT', '29500')
        if 'MASTER_ADDR' not in env:
            node_list = need('SLURM_NODELIST')
            addr = subprocess.run(['scontrol', 'show', 'hostname', node_list],
                                  capture_output=True, text=True, check=False).stdout.split()
            if not addr:
                raise KeyError(f'could not resolve the first host of SLURM_NODELIST='
                               f'{node_list!r} with scontrol; set MASTER_ADDR explicitly.')
            env['MASTER_ADDR'] = addr[0]
    elif launcher == 'mpi':
        env.setdefault('RANK', need('OMPI_COMM_WORLD_RANK'))
        env.setdefault('WORLD_SIZE', need('OMPI_COMM_WORLD_SIZE'))
        env.setdefault('LOCAL_RANK', env.get('OMPI_COMM_WORLD_LOCAL_RANK', '0'))
        env.setdefault('MASTER_PORT', '29500')
        need('MASTER_ADDR')
    else:
        raise ValueError(f'launcher={launcher!r} has no environment to export; '
                         f'use one of pytorch, slurm, mpi')


def cpu_model_wrapper_cfg(cfg: Config) -> Dict[str, Any]:
    """Return the ``model_wrapper_cfg`` for CPU DDP, keeping the user's own keys.

    ``device_ids`` is forced to None (DDP's value for a CPU module). The Runner's defaults
    for its built-in wrapper are kept: ``broadcast_buffers=False`` and the top-level
    ``find_unused_parameters`` of the config.

    Raises:
        ValueError: when the config asks for a wrapper that is not a DistributedDataParallel
            (e.g. FSDP), which this CPU path does not support.
    """
    user: Mapping[str, Any] = cfg.get('model_wrapper_cfg') or {}
    wrapper = dict(user)
    wrapper.setdefault('type', 'MMDistributedDataParallel')
    wrapper_type = wrapper['type']
    if isinstance(wrapper_type, str):
        wrapper_cls = MODEL_WRAPPERS.get(wrapper_type)
    else:
        wrapper_cls = wrapper_type
    if wrapper_cls is None or not issubclass(wrapper_cls, DistributedDataParallel):
        raise ValueError(
            f'model_wrapper_cfg.type={wrapper_type!r} cannot run on CPU processes; distributed '
            f'training without a GPU supports DistributedDataParallel wrappers only (e.g. '
            f'{MMDistributedDataParallel.__name__}). Remove model_wrapper_cfg or run on GPUs.')
    if not user:
        wrapper.setdefault('broadcast_buffers', False)
        wrapper.setdefault('find_unused_parameters', cfg.get('find_unused_parameters', False))
    wrapper['device_ids'] = None
    return wrapper


def init_cpu_process_group(dist_cfg: Optional[Mapping[str, Any]] = None) -> None:
    """Initialise the default process group with gloo from the ``env://`` variables.

    ``dist_cfg`` is ``env_cfg.dist_cfg``; its ``timeout`` (seconds) is honoured, its
    ``backend`` is ignored (CPU processes need gloo). A second call is a no-op.
    """
    if torch_dist.is_initialized():
        return
    kwargs: Dict[str, Any] = {}
    timeout = (dist_cfg or {}).get('timeout')
    if timeout is not None:
        kwargs['timeout'] = datetime.timedelta(seconds=timeout)
    torch_dist.init_process_group(backend=CPU_BACKEND, init_method='env://', **kwargs)


def shutdown_distributed() -> None:
    """Let every rank finish, then tear the default process group down (no-op without one).

    Call it once a job has ended normally. Left to interpreter exit, a rank that finishes
    first closes its gloo connections while the others are still logging or saving, and the
    process group's threads can then be destroyed mid-operation: the process aborts with
    ``terminate called without an active exception`` (SIGABRT) after all its work is done,
    and torchrun reports the whole job as failed. The barrier makes the ranks leave together.
    """
    if torch_dist.is_available() and torch_dist.is_initialized():
        torch_dist.barrier()
        torch_dist.destroy_process_group()


def setup_distributed(cfg: Config, launcher: Optional[str] = None) -> bool:
    """Prepare ``cfg`` (and the process group) for distributed work on CPU processes.

    Call it after the launcher is known and before building the Runner. With a GPU, or
    ``launcher='none'``, it does nothing.

    Args:
        cfg: the config the Runner will be built from; ``cfg.launcher`` is used when
            ``launcher`` is None. Updated in place: ``env_cfg.dist_cfg.backend='gloo'`` and
            ``model_wrapper_cfg`` (see :func:`cpu_model_wrapper_cfg`).
        launcher: ``'none'``, ``'pytorch'``, ``'slurm'`` or ``'mpi'``.

    Returns:
        True when the CPU (gloo) path was set up, False when nothing was changed.
    """
    launcher = launcher if launcher is not None else cfg.get('launcher', 'none')
    if not needs_cpu_distributed(launcher):
        return False
    env_cfg = cfg.get('env_cfg') or ConfigDict()
    dist_cfg = ConfigDict(env_cfg.get('dist_cfg') or {})
    dist_cfg.backend = CPU_BACKEND
    env_cfg['dist_cfg'] = dist_cfg
    cfg.env_cfg = env_cfg
    cfg.model_wrapper_cfg = cpu_model_wrapper_cfg(cfg)
    export_launcher_env(launcher)
    init_cpu_process_group(dist_cfg)
    return True
