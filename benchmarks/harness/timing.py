"""Step functions and an interleaved timer for comparing models on one machine.

Each model's measurement is a zero-argument callable doing one complete step (a training step
with backward and optimizer update, or an inference forward). :func:`interleaved_times` runs
them in rounds ``A B C A B C ...`` so that drift of the machine (other processes, thermal
state) hits every model alike, and returns every sample (wall-clock and process CPU time);
compare medians.
"""
import time
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any, Callable, ContextManager, Dict, List, Mapping, Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

DTYPES = {'fp32': None, 'bf16': torch.bfloat16, 'fp16': torch.float16}


def benchmark_adamw(params: Any, lr: float = 1e-4, **options: Any) -> torch.optim.AdamW:
    """The AdamW every benchmark steps (DeiT's weight decay 0.05), so that "the optimizer
    step" means the same thing in every table; ``options`` are AdamW's own (``foreach=True``,
    ``fused=True``)."""
    return torch.optim.AdamW(params, lr=lr, weight_decay=0.05, **options)


def autocast_context(device: torch.device, dtype: str) -> ContextManager:
    """``torch.autocast`` for ``bf16`` / ``fp16``; nothing for ``fp32``."""
    if DTYPES[dtype] is None:
        return nullcontext()
    return torch.autocast(device_type=device.type, dtype=DTYPES[dtype])


def check_device(device: str, dtype: str = 'fp32') -> torch.device:
    """The torch device for ``device``; ValueError naming it when it cannot run here.

    Checked before any model is built, so a run without a GPU fails at once and not after
    minutes of CPU work. ``fp16`` autocast needs CUDA (CPU autocast is bf16).
    """
    try:
        parsed = torch.device(device)
    except RuntimeError as error:
        raise ValueError(f"device={device!r} is not a device; use 'cpu' or 'cuda[:N]'") from error
    if parsed.type not in ('cpu', 'cuda'):
        raise ValueError(f"device={device!r} is not supported; use 'cpu' or 'cuda[:N]'")
    if parsed.type == 'cuda' and not torch.cuda.is_available():
        raise ValueError(f'device={device!r} but CUDA is not available here (no GPU or driver '
                         f'for torch {torch.__version__}); use --device cpu')
    if dtype == 'fp16' and parsed.type != 'cuda':
        raise ValueError('dtype=fp16 needs a CUDA device; use bf16 on CPU')
    return parsed


def synchronize(device: torch.device) -> None:
    """Wait for queued device work, so wall-clock time covers it."""
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


def make_train_step(model: nn.Module, optimizer: torch.optim.Optimizer, images: torch.Tensor,
                    labels: torch.Tensor, dtype: str = 'fp32',
                    forward: Optional[Callable[[torch.Tensor], torch.Tensor]] = None,
                    scaler: Optional['torch.amp.GradScaler'] = None) -> Callable[[], None]:
    """One training step: forward (autocast), cross-entropy, backward, optimizer step.

    ``forward`` defaults to ``model`` (pass a compiled module here). The model is put in
    train mode at each call (inference phases may have switched it).
    """
    run = forward if forward is not None else model

    def step() -> None:
        if not model.training:
            model.train()
        optimizer.zero_grad(set_to_none=True)
        with autocast_context(images.device, dtype):
            loss = F.cross_entropy(run(images), labels)
        if scaler is not None:
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
        else:
            loss.backward()
            optimizer.step()
        synchronize(images.device)

    return step


def build_train_step(spec: Mapping[str, Any]
                     ) -> Tuple[Callable[[], None], torch.optim.Optimizer]:
    """Build one benchmark model's training step (and its optimizer) from a worker ``spec``.

    ``spec`` keys: ``model, arch, depth, img_size, batch_size, device, dtype, compile,
    num_classes, seed`` and optionally ``family`` (``'vit'`` when absent), ``threads`` and
    ``lr`` and ``compile_mode`` (``torch.compile``'s ``mode``: None is inductor's default,
    e.g. ``'max-autotune-no-cudagraphs'`` or ``'reduce-overhead'`` for CUDA graphs). Used by the
    worker processes (peak memory, isolated timing), which each build one
    model of a benchmark run.
    """
    from .families import build_models
    if spec.get('threads'):
        torch.set_num_threads(int(spec['threads']))
    device = torch.device(spec['device'])
    model = build_models(spec.get('family', 'vit'), [spec['model']], spec['arch'],
                         spec['depth'], spec['img_size'], spec['num_classes'],
                         spec['seed'])[spec['model']].to(device)
    optimizer = benchmark_adamw(model.parameters(), lr=spec.get('lr', 1e-4))
    images = torch.randn(spec['batch_size'], 3, spec['img_size'], spec['img_size'],
                         device=device)
    labels = torch.randint(0, spec['num_classes'], (spec['batch_size'], ), device=device)
    forward = (torch.compile(model, mode=spec.get('compile_mode')) if spec.get('compile')
               else None)
    return make_train_step(model, optimizer, images, labels, spec['dtype'], forward), optimizer


def make_infer_step(model: nn.Module, images: torch.Tensor, dtype: str = 'fp32',
                    train_mode: bool = False,
                    forward: Optional[Callable[[torch.Tensor], torch.Tensor]] = None
                    ) -> Callable[[], None]:
    """One inference forward under ``torch.no_grad()``.

    ``train_mode=True`` runs the model in train mode (dropout and drop-path are zero in the
    benchmarked models, so this computes the same function): for ScaleNet this is the live
    adapter path (fold or branch chosen per call, nothing cached) instead of the eval cache of
    merged weights. Give the two paths separate model objects when interleaving them: the mode
    is only switched when it differs, and a ScaleNet switch clears its cache.
    """
    run = forward if forward is not None else model

    def step() -> None:
        if model.training != train_mode:  # switching modes drops ScaleNet's merged-weight cache
            model.train(train_mode)
        with torch.no_grad(), autocast_context(images.device, dtype):
            run(images)
        synchronize(images.device)

    return step


@dataclass
class Samples:
    """Per-step samples of one interleaved measurement, in seconds.

    ``wall`` is elapsed time. ``cpu`` is the CPU time this process used (all its threads):
    on a CPU shared with other work, time slices lost to other processes inflate ``wall`` but
    not ``cpu``, so with a fixed thread count ``cpu`` is the steadier measure of the work a
    step does. On CUDA only ``wall`` is meaningful.
    """
    wall: Dict[str, List[float]]
    cpu: Dict[str, List[float]]


def interleaved_times(steps: Mapping[str, Callable[[], None]], repeats: int, warmup: int,
                      on_round: Optional[Callable[[int, 'Samples'], None]] = None) -> Samples:
    """Seconds per call of every step, measured in interleaved rounds after interleaved warm-up.

    Args:
        steps: name -> zero-argument step.
        repeats: timed rounds (every step runs once per round).
        warmup: untimed rounds first (allocator, caches, lazy optimizer state, compilation).
        on_round: called with the round index and the samples so far after each timed round
            (progress output).
    """
    for _ in range(warmup):
        for step in steps.values():
            step()
    samples = Samples(wall={name: [] for name in steps}, cpu={name: [] for name in steps})
    for round_index in range(repeats):
        for name, step in steps.items():
            wall, cpu = time.perf_counter(), time.process_time()
            step()
            samples.cpu[name].append(time.process_time() - cpu)
            samples.wall[name].append(time.perf_counter() - wall)
        if on_round is not None:
            on_round(round_index, samples)
    return samples


def unsteady_models(samples: Mapping[str, List[float]], tolerance: float = 0.05
                    ) -> Dict[str, float]:
    """Models whose first timed step is well above the median of their later steps.

    A first round more than ``tolerance`` above the rest means the warm-up did not reach the
    steady state (allocator growth, lazily created state), and that round inflates a median of
    few rounds. Returns ``{name: first / median_of_rest}`` for those models; needs three or
    more samples per model to judge.
    """
    flagged: Dict[str, float] = {}
    for name, values in samples.items():
        if len(values) < 3:
            continue
        ratio = values[0] / median(values[1:])
        if ratio > 1.0 + tolerance:
            flagged[name] = ratio
    return flagged


def median(values: List[float]) -> float:
    """The median (mean of the two middle values for an even count)."""
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else 0.5 * (ordered[mid - 1] + ordered[mid])
