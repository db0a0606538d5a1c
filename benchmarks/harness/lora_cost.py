"""What a LoRA adapter adds to one adapted linear of a training step, measured per shape.

A ScaleNet layer instance runs its shared block's four linears (``qkv``, ``proj``, ``fc1``,
``fc2``) with its own rank-``r`` LoRA delta. In training the delta is folded into the weight
(``W + s B A``, one product of ``d_out x r x d_in``) before the linear runs, and the backward
adds two more products of that size (the gradients of ``B`` and ``A``). Against the linear's
own three products of ``tokens x d_in x d_out`` that is ``r / tokens`` more arithmetic: 0.6 %
at batch 8 of 197 tokens, 0.16 % at batch 32. The separate low-rank branch instead costs
``r (d_in + d_out) / (d_in d_out)`` more (1.7 % for DeiT-B's qkv), whatever the batch.

:func:`measure_lora_cost` times, for each of the four shapes of an arch and side by side in
interleaved rounds, a forward + backward of:

* ``plain``  -- ``F.linear(x, W, b)``: what a plain ViT layer does;
* ``fold``   -- ``F.linear(x, lora.merged_weight(W), b)``: ScaleNet in training;
* ``branch`` -- ``F.linear(x, W, b) + lora.branch(x)``: the low-rank branch;

and, to show what limits the fold, the fold alone (no gradient) and a plain copy of ``W``
(the least any fold must cost: one read and one write of a weight-sized tensor). The three
variants are checked to compute the same output before timing, so the comparison is of one
function done three ways.
"""
from typing import Any, Callable, Dict, Mapping, Optional, Tuple

import torch
import torch.nn.functional as F

from scalenet_mm.method.adapters import LoRA

from .models import ArchSpec, resolve_arch, scaled_depth
from .timing import autocast_context, check_device, interleaved_times, median, synchronize

VARIANTS = ('plain', 'fold', 'branch')
PARTS = ('weight_copy', 'fold_alone')


def linear_shapes(arch: ArchSpec) -> Dict[str, Tuple[int, int]]:
    """``{target: (d_out, d_in)}`` of the four adapted linears of one ViT layer of ``arch``."""
    spec = resolve_arch(arch)
    dims, hidden = spec['embed_dims'], spec['feedforward_channels']
    return dict(qkv=(3 * dims, dims), proj=(dims, dims), fc1=(hidden, dims), fc2=(dims, hidden))


def flop_overheads(d_out: int, d_in: int, tokens: int, rank: int) -> Dict[str, float]:
    """Extra multiply-adds of ``fold`` and ``branch`` as a fraction of the plain linear's.

    Forward and backward each: the linear does three products of ``tokens x d_in x d_out``;
    the fold adds three of ``d_out x rank x d_in``; the branch adds six of ``tokens x rank x
    d_in`` or ``tokens x rank x d_out`` (two forward, four backward).
    """
    plain = 3.0 * tokens * d_in * d_out
    return dict(fold=3.0 * d_out * rank * d_in / plain,
                branch=3.0 * tokens * rank * (d_in + d_out) / plain)


class _LinearCase:
    """Tensors of one adapted linear (weight, bias, LoRA, input, output gradient) on a device."""

    def __init__(self, d_out: int, d_in: int, tokens: int, rank: int, device: torch.device,
                 seed: int = 0) -> None:
        generator = torch.Generator().manual_seed(seed)

        def rand(*shape: int, grad: bool = False) -> torch.Tensor:
            tensor = torch.randn(*shape, generator=generator).to(device)
            return tensor.requires_grad_(grad)

        self.weight = rand(d_out, d_in, grad=True)
        self.bias = rand(d_out, grad=True)
        self.lora = LoRA(d_in, d_out, rank=rank, alpha=float(rank)).to(device)
        with torch.no_grad():  # a trained adapter: B is zero only at initialisation
            self.lora.lora_B.copy_(rand(d_out, rank) * 0.02)
        self.inputs = rand(tokens, d_in, grad=True)
        self.grad_output = rand(tokens, d_out)

    def parameters(self) -> Tuple[torch.Tensor, ...]:
        return (self.weight, self.bias, self.inputs, self.lora.lora_A, self.lora.lora_B)

    def forward(self, variant: str) -> torch.Tensor:
        """The adapted linear's output computed the ``variant`` way."""
        if variant == 'plain':
            return F.linear(self.inputs, self.weight, self.bias)
        if variant == 'fold':
            return F.linear(self.inputs, self.lora.merged_weight(self.weight), self.bias)
        if variant == 'branch':
            return F.linear(self.inputs, self.weight, self.bias) + self.lora.branch(self.inputs)
        raise ValueError(f'variant={variant!r}; use one of {VARIANTS}')

    def step(self, variant: str, dtype: str) -> Callable[[], None]:
        """A zero-argument forward + backward of ``variant`` (gradients reset as ``set_to_none``)."""
        device = self.weight.device

        def run() -> None:
            for tensor in self.parameters():
                tensor.grad = None
            with autocast_context(device, dtype):
                output = self.forward(variant)
            output.backward(self.grad_output.to(output.dtype))
            synchronize(device)

        return run

    def part(self, name: str) -> Callable[[], None]:
        """A zero-argument run of one piece of the fold: ``weight_copy`` or ``fold_alone``."""
        device = self.weight.device

        def run() -> None:
            with torch.no_grad():
                if name == 'weight_copy':
                    self.weight.clone()
                elif name == 'fold_alone':
                    self.lora.merged_weight(self.weight)
                else:
                    raise ValueError(f'part={name!r}; use one of {PARTS}')
            synchronize(device)

        return run

    def check_variants_agree(self) -> float:
        """Largest difference of ``fold`` and ``branch`` outputs, relative to the output scale.

        Raises ``AssertionError`` when they differ by more than fp32 rounding, which would
        mean the timing compares different functions.
        """
        with torch.no_grad():
            fold, branch = self.forward('fold'), self.forward('branch')
        error = float((fold - branch).abs().max() / branch.abs().max().clamp_min(1e-12))
        if error > 1e-4:
            raise AssertionError(f'fold and branch differ by {error:.2e} (relative)')
        return error


def measure_lora_cost(arch: ArchSpec, batch_size: int, img_size: int = 224,
                      patch_size: int = 16, rank: int = 10, depth: float = 2.0,
                      repeats: int = 20, warmup: int = 3, device: str = 'cpu',
                      dtype: str = 'fp32') -> Dict[str, Any]:
    """Time ``plain`` / ``fold`` / ``branch`` (and the fold's parts) for an arch's four linears.

    Returns a JSON-ready dict: the setting, per target the shape, the FLOP overheads, the
    median milliseconds of every variant and part, and per layer instance the sums and the
    extra time of the fold over the plain linears, scaled to the ``depth`` model's instances.
    """
    torch_device = check_device(device, dtype)
    tokens = batch_size * ((img_size // patch_size) ** 2 + 1)
    shapes = linear_shapes(arch)
    instances = scaled_depth(arch, depth)
    targets: Dict[str, Any] = {}
    for index, (target, (d_out, d_in)) in enumerate(shapes.items()):
        case = _LinearCase(d_out, d_in, tokens, rank, torch_device, seed=index)
        agreement = case.check_variants_agree()
        steps: Dict[str, Callable[[], None]] = {v: case.step(v, dtype) for v in VARIANTS}
        steps.update({p: case.part(p) for p in PARTS})
        samples = interleaved_times(steps, repeats=repeats, warmup=warmup)
        targets[target] = dict(
            shape=[d_out, d_in], flop_overhead=flop_overheads(d_out, d_in, tokens, rank),
            fold_branch_difference=agreement,
            ms={name: 1e3 * median(values) for name, values in samples.wall.items()})
    per_instance = {name: sum(t['ms'][name] for t in targets.values())
                    for name in VARIANTS + PARTS}
    fold_extra_ms = per_instance['fold'] - per_instance['plain']
    return dict(
        setting=dict(arch=arch, batch_size=batch_size, img_size=img_size,
                     patch_size=patch_size, tokens=tokens, rank=rank, depth=depth,
                     instances=instances, repeats=repeats, warmup=warmup, device=device,
                     dtype=dtype, threads=torch.get_num_threads()),
        targets=targets,
        per_instance_ms=per_instance,
        fold_extra=dict(ms_per_instance=fold_extra_ms,
                        fraction_of_plain_linears=fold_extra_ms / per_instance['plain'],
                        seconds_per_step=fold_extra_ms * instances / 1e3))


def format_lora_cost(result: Mapping[str, Any]) -> str:
    """The result as a text table: milliseconds, ratios to ``plain`` and the FLOP model."""
    setting = result['setting']
    lines = [f"LoRA rank {setting['rank']} on {setting['arch']} linears, {setting['tokens']} "
             f"tokens (batch {setting['batch_size']}), {setting['device']} {setting['dtype']}, "
             f"{setting['threads']} threads, median of {setting['repeats']} interleaved rounds",
             f"{'linear':<6} {'out x in':>11} {'plain ms':>9} {'fold ms':>16} "
             f"{'branch ms':>16} {'copy W ms':>10} {'fold alone ms':>14}"]

    def cell(ms: float, plain: float, flops: float) -> str:
        return f'{ms:7.2f} {ms / plain:5.3f}x'.rjust(10) + f' ({1 + flops:5.3f})'

    for target, row in result['targets'].items():
        ms, flops = row['ms'], row['flop_overhead']
        shape = f"{row['shape'][0]} x {row['shape'][1]}"
        lines.append(f"{target:<6} {shape:>11} {ms['plain']:9.2f} "
                     f"{cell(ms['fold'], ms['plain'], flops['fold']):>16} "
                     f"{cell(ms['branch'], ms['plain'], flops['branch']):>16} "
                     f"{ms['weight_copy']:10.2f} {ms['fold_alone']:14.2f}")
    total, extra = result['per_instance_ms'], result['fold_extra']
    lines += ['(x: time ratio to plain; in brackets: the ratio of multiply-adds)',
              f"per layer instance: plain {total['plain']:.1f} ms, fold {total['fold']:.1f} ms, "
              f"branch {total['branch']:.1f} ms; the fold adds {extra['ms_per_instance']:.2f} ms "
              f"({100 * extra['fraction_of_plain_linears']:.2f} % of the plain linears), "
              f"{extra['seconds_per_step']:.3f} s per training step over "
              f"{setting['instances']} instances"]
    return '\n'.join(lines)
