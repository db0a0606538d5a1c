"""Where a ScaleNet training step spends the time a plain ViT of the same depth does not.

ScaleNet's forward and backward do the plain model's matrix products, plus, per layer instance
and adapted linear, the LoRA fold ``W + s B A`` (an ``addmm`` that first copies ``W`` into its
output), the two products that give ``B`` and ``A`` their gradients, and the accumulation of
the shared weight's gradient over its instances; its AdamW step touches half the elements.
:func:`profile_step` profiles one forward + backward of each model with ``torch.profiler``
(after warm-up steps), puts every ATen call's own CPU time into one of these categories by the
shapes it was called with, and times the optimizer step alone, so that one run prints, side by
side, what the LoRA path costs and what the shared optimizer step saves.

Categories (the first that matches):

* ``lora``: a call with an input shaped like a LoRA tensor, ``(d_out, r)`` or ``(r, d_in)``
  (the fold's ``addmm``, the gradient products of ``A`` and ``B``);
* ``weight_copy_add``: ``copy_``, ``add`` or ``add_`` on two weight-shaped inputs (the fold's
  copy of ``W`` into its output; the shared weight's gradient added over its instances);
* ``other``: everything else (the products, attention, norms, activations both models do).

The categories go by shape, so a plain tensor shaped like a LoRA tensor would count as LoRA
(e.g. a head of ``r`` classes); the models here have 1000 classes.
"""
import statistics
import time
from typing import Any, Dict, List, Sequence, Set, Tuple

import torch
import torch.nn as nn

from .families import build_models
from .timing import benchmark_adamw

CATEGORIES: Tuple[str, ...] = ('lora', 'weight_copy_add', 'other')
_COPY_ADD = frozenset({'aten::copy_', 'aten::add', 'aten::add_'})
Shape = Tuple[int, ...]


def lora_and_weight_shapes(model: nn.Module) -> Tuple[Set[Shape], Set[Shape]]:
    """The shapes of ``model``'s LoRA tensors (``lora_A`` / ``lora_B``) and of the 2-D weights
    they adapt (every 2-D parameter that is not a LoRA tensor)."""
    lora: Set[Shape] = set()
    weights: Set[Shape] = set()
    for name, param in model.named_parameters():
        if param.dim() != 2:
            continue
        (lora if '.lora_' in name else weights).add(tuple(param.shape))
    return lora, weights


def categorise(op: str, shapes: Sequence[Sequence[int]], lora: Set[Shape],
               weights: Set[Shape]) -> str:
    """The category of one ATen call (``op`` with the input ``shapes`` the profiler recorded)."""
    inputs = [tuple(shape) for shape in shapes if shape]
    if any(shape in lora for shape in inputs):
        return 'lora'
    if op in _COPY_ADD and len(inputs) >= 2 and inputs[0] in weights and inputs[0] == inputs[1]:
        return 'weight_copy_add'
    return 'other'


def _self_cpu_by_category(model: nn.Module, step, lora: Set[Shape],
                          weights: Set[Shape]) -> Dict[str, float]:
    """Seconds of ATen self CPU time of one ``step()`` per category (the profiler's
    ``self_cpu_time_total`` of each top-level ATen call, grouped by input shapes)."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
        step()
    totals = dict.fromkeys(CATEGORIES, 0.0)
    for event in prof.key_averages(group_by_input_shape=True):
        if not event.key.startswith('aten::'):
            continue
        totals[categorise(event.key, event.input_shapes, lora, weights)] += \
            event.self_cpu_time_total / 1e6
    return totals


def profile_step(arch: Any = 'deit-small', depth: float = 2.0, batch_size: int = 8,
                 img_size: int = 224, threads: int = 2, warmup: int = 2, repeats: int = 3,
                 models: Sequence[str] = ('scalenet', 'timm'), seed: int = 0) -> Dict[str, Any]:
    """Profile ``repeats`` forward + backward steps of each model (after ``warmup``), the
    models in turn, and time their AdamW steps (:func:`.timing.benchmark_adamw`, as the other
    benchmarks step); the JSON-able medians per model and category."""
    torch.set_num_threads(threads)
    built = build_models('vit', list(models), arch, depth, img_size, 1000, seed)
    images = torch.randn(batch_size, 3, img_size, img_size)
    labels = torch.randint(0, 1000, (batch_size, ))
    optimizers = {name: benchmark_adamw(model.parameters()) for name, model in built.items()}
    shapes = {name: lora_and_weight_shapes(model) for name, model in built.items()}

    def forward_backward(name: str):
        def step() -> None:
            optimizers[name].zero_grad(set_to_none=True)
            nn.functional.cross_entropy(built[name](images), labels).backward()
        return step

    samples: Dict[str, Dict[str, List[float]]] = {
        name: {key: [] for key in CATEGORIES + ('optimizer_step', )} for name in built}
    for round_index in range(warmup + repeats):
        for name in built:
            step = forward_backward(name)
            if round_index < warmup:
                step()
                optimizers[name].step()
                continue
            for key, seconds in _self_cpu_by_category(built[name], step,
                                                      *shapes[name]).items():
                samples[name][key].append(seconds)
            start = time.perf_counter()
            optimizers[name].step()
            samples[name]['optimizer_step'].append(time.perf_counter() - start)
    medians = {name: {key: statistics.median(values) for key, values in parts.items()}
               for name, parts in samples.items()}
    for parts in medians.values():
        parts['forward_backward'] = sum(parts[key] for key in CATEGORIES)
        parts['step'] = parts['forward_backward'] + parts['optimizer_step']
    return dict(config=dict(arch=arch, depth=depth, batch_size=batch_size, img_size=img_size,
                            threads=threads, warmup=warmup, repeats=repeats,
                            models=list(models)),
                seconds=medians)


def format_step_profile(result: Dict[str, Any], reference: str = 'timm') -> str:
    """The side-by-side table of a :func:`profile_step` result: seconds per part and model,
    and each of ScaleNet's parts as a share of the reference's whole step."""
    seconds = result['seconds']
    names = list(seconds)
    rows = ('lora', 'weight_copy_add', 'other', 'forward_backward', 'optimizer_step', 'step')
    lines = ['| part (ATen self CPU, median of rounds) | ' + ' | '.join(names) +
             f' | ScaleNet - {reference}, share of {reference} step |',
             '|---|' + '---:|' * (len(names) + 1)]
    whole = seconds[reference]['step'] if reference in seconds else None
    for row in rows:
        cells = ' | '.join(f'{seconds[name][row] * 1e3:.1f} ms' for name in names)
        delta = ('-' if whole is None or 'scalenet' not in seconds else
                 f"{100 * (seconds['scalenet'][row] - seconds[reference][row]) / whole:+.2f} %")
        lines.append(f'| {row} | {cells} | {delta} |')
    return '\n'.join(lines)
