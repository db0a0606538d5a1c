"""What weight sharing saves outside the forward and backward: the optimizer step and the
data-parallel gradient all-reduce, measured side by side for the models of a benchmark.

A ScaleNet model of L' layer instances holds the tensors of its L shared layers once, so its
optimizer steps over (and DDP all-reduces the gradients of) about L / L' of a plain L'-layer
model's elements, plus the adapters. Both are independent of the batch: they are the part of a
training step that sharing itself makes cheaper.

* :func:`optimizer_step_times` -- AdamW's ``step()`` alone (``foreach`` or ``fused``), with
  gradients already in place, timed in interleaved rounds;
* :func:`ddp_bucket_sizes` -- the gradient buckets PyTorch's ``DistributedDataParallel``
  all-reduces in one training step of a model (read through a DDP communication hook, so the
  sizes are DDP's own, shared tensors counted as DDP counts them);
* :func:`allreduce_times` -- ``torch.distributed.all_reduce`` of exactly those buckets, timed
  in interleaved rounds across the process group (``benchmarks/harness/allreduce_worker.py``
  runs it under ``torchrun``).
"""
from typing import Callable, Dict, List, Mapping

import torch
import torch.distributed as dist
import torch.nn as nn
import torch.nn.functional as F

from .sizes import optimizer_state_bytes, unique_tensors
from .timing import benchmark_adamw, interleaved_times, median

#: AdamW implementations whose step is timed (``torch.optim.AdamW(foreach=...)`` / ``fused``).
OPTIMIZER_IMPLEMENTATIONS = ('foreach', 'fused')


def trainable_tensors(model: nn.Module) -> List[torch.Tensor]:
    """The model's trainable parameters, each shared tensor once (as an optimizer holds them)."""
    return list(unique_tensors(p for p in model.parameters() if p.requires_grad))


def make_optimizer_step(model: nn.Module, implementation: str,
                        seed: int = 0) -> Callable[[], None]:
    """A zero-argument AdamW ``step()`` over ``model``'s parameters with fixed random gradients.

    ``implementation`` is ``'foreach'`` (torch's multi-tensor kernels) or ``'fused'`` (one
    fused kernel per dtype and device group). The gradients are set once; every call steps
    with them, which is what the optimizer does after any backward.
    """
    if implementation not in OPTIMIZER_IMPLEMENTATIONS:
        raise ValueError(f'implementation={implementation!r}; choose from '
                         f'{list(OPTIMIZER_IMPLEMENTATIONS)}')
    params = trainable_tensors(model)
    generator = torch.Generator(device='cpu').manual_seed(seed)
    for param in params:
        param.grad = torch.randn(param.shape, generator=generator).to(param) * 1e-3
    optimizer = benchmark_adamw(params, **{implementation: True})

    def step() -> None:
        optimizer.step()
        if params[0].is_cuda:
            torch.cuda.synchronize(params[0].device)

    step.optimizer = optimizer  # type: ignore[attr-defined]
    return step


def optimizer_step_times(models: Mapping[str, nn.Module], implementation: str, repeats: int,
                         warmup: int) -> Dict[str, Dict[str, float]]:
    """Per model: tensors and elements stepped, AdamW state bytes and the median step time.

    The steps of all models run in interleaved rounds (A B C, A B C, ...) so a noisy machine
    moves them together; ``warmup`` untimed rounds create the optimizer state first.
    """
    steps = {name: make_optimizer_step(model, implementation) for name, model in models.items()}
    samples = interleaved_times(steps, repeats=repeats, warmup=max(warmup, 1))
    results: Dict[str, Dict[str, float]] = {}
    for name, step in steps.items():
        params = [p for group in step.optimizer.param_groups  # type: ignore[attr-defined]
                  for p in group['params']]
        results[name] = dict(
            tensors=len(params), elements=sum(p.numel() for p in params),
            state_bytes=optimizer_state_bytes(step.optimizer),  # type: ignore[attr-defined]
            step_s=median(samples.wall[name]), step_cpu_s=median(samples.cpu[name]),
            rounds=samples.wall[name])
    return results


def ddp_bucket_sizes(model: nn.Module, images: torch.Tensor) -> List[int]:
    """Element counts of the gradient buckets DDP all-reduces in one training step of ``model``.

    Needs an initialised default process group. The model is wrapped in
    ``DistributedDataParallel`` with its default bucketing; a communication hook records each
    bucket's flattened buffer before handing it to DDP's own all-reduce hook. Two steps run:
    DDP rebuilds its buckets in gradient-ready order after the first, the second's are kept.
    """
    from torch.distributed.algorithms.ddp_comm_hooks import default_hooks
    from torch.nn.parallel import DistributedDataParallel
    wrapped = DistributedDataParallel(model)
    sizes: List[int] = []

    def counting_hook(state: object,
                      bucket: dist.GradBucket) -> torch.futures.Future[torch.Tensor]:
        sizes.append(bucket.buffer().numel())
        return default_hooks.allreduce_hook(None, bucket)

    wrapped.register_comm_hook(None, counting_hook)
    labels = torch.zeros(images.shape[0], dtype=torch.long, device=images.device)
    for _ in range(2):
        sizes.clear()
        wrapped.zero_grad(set_to_none=True)
        F.cross_entropy(wrapped(images), labels).backward()
    return list(sizes)


def allreduce_times(buckets: Mapping[str, List[int]], repeats: int,
                    warmup: int) -> Dict[str, Dict[str, float]]:
    """Per model: bytes all-reduced per step and the median time of all-reducing them.

    Every rank of the default process group must call this with the same ``buckets``. Each
    model's step all-reduces one fp32 tensor per bucket, synchronously (the time DDP overlaps
    with the backward when it can); the models run in interleaved rounds, with a barrier
    before each so every rank starts together.
    """
    buffers = {name: [torch.ones(size) for size in sizes] for name, sizes in buckets.items()}

    def make_step(tensors: List[torch.Tensor]) -> Callable[[], None]:
        def step() -> None:
            dist.barrier()
            for tensor in tensors:
                dist.all_reduce(tensor)
        return step

    samples = interleaved_times({name: make_step(tensors) for name, tensors in buffers.items()},
                                repeats=repeats, warmup=warmup)
    return {name: dict(buckets=len(sizes), elements=sum(sizes), bytes=4 * sum(sizes),
                       allreduce_s=median(samples.wall[name]), rounds=samples.wall[name])
            for name, sizes in buckets.items()}
