"""Eager against compiled, fp32 against bf16: ScaleNet's training step beside plain ViTs of the
same depth, every variant in one interleaved run.

Each variant (model x mode x dtype) is one worker process of :mod:`benchmarks.harness.isolated`
(built in parallel, then stepped in turn A B C D A B C D ..., only one computing at a time), so
drift hits all of them alike and the ratios of one run are what to read. ``compiled`` is
``torch.compile(model)`` of the forward (AOTAutograd compiles the backward with it; the loss
and the AdamW step stay eager, the same for every model), inductor's backend, ``compile_mode``
passed through. The first warm-up step of a compiled worker includes its compilation, which
is reported separately (``first_step_s``; with ``parallel_compile``, the default, all workers
run that step at once, so it is the time until each one's compilation finished beside the
others'), with the graphs dynamo compiled and the graph breaks
it met in that worker (a training step without breaks compiles one graph).
"""
from dataclasses import asdict, dataclass
from typing import Any, Callable, Dict, List, Optional, Tuple

import torch

from scalenet_mm.utils.complexity import count_flops

from .benchmark import machine_info
from .families import build_models, resolve_shape
from .isolated import isolated_train_times
from .throughput import achieved_tflops, peak_tflops
from .timing import DTYPES, Samples, check_device, median

MODES: Tuple[str, ...] = ('eager', 'compiled')
COMPARED_MODELS: Tuple[str, ...] = ('scalenet', 'timm', 'mmpretrain')


def variant_name(model: str, mode: str, dtype: str) -> str:
    """The key of one variant in the result, e.g. ``'scalenet/compiled/bf16'``."""
    return f'{model}/{mode}/{dtype}'


@dataclass
class CompileCostConfig:
    """What to time; the fields mirror ``benchmarks/compile_cost.py``'s options."""
    arch: Any = 'deit-small'
    depth: float = 2.0
    batch_size: int = 8
    img_size: int = 224
    device: str = 'cpu'
    models: Tuple[str, ...] = ('scalenet', 'timm')
    modes: Tuple[str, ...] = MODES
    dtypes: Tuple[str, ...] = ('fp32', )
    compile_mode: Optional[str] = None
    repeats: int = 5
    warmup: int = 2
    threads: Optional[int] = None
    keep_memory: bool = False
    #: compile every worker's first step at once (overlapping compilations; its time then
    #: includes the others' compilations)
    parallel_compile: bool = True
    #: profile one more step per worker: ATen operator calls and GPU kernels per step
    count_ops: bool = False
    num_classes: int = 1000
    seed: int = 0
    lr: float = 1e-4

    def validate(self) -> None:
        """Raise ValueError naming a bad option (before any model is built)."""
        for field, allowed in (('models', COMPARED_MODELS), ('modes', MODES),
                               ('dtypes', tuple(DTYPES))):
            values = getattr(self, field)
            if not values or set(values) - set(allowed):
                raise ValueError(f'{field}={list(values)} is invalid; choose from '
                                 f'{list(allowed)}')
        if 'scalenet' not in self.models or len(self.models) < 2:
            raise ValueError(f'models={list(self.models)}: give scalenet and at least one plain '
                             f'model to compare it with')
        if self.repeats < 1 or self.warmup < 1 or self.batch_size < 1:
            raise ValueError('repeats, warmup and batch_size must be >= 1 (the first warm-up '
                             'step compiles)')
        for dtype in self.dtypes:
            check_device(self.device, dtype)
        resolve_shape('vit', self.arch, self.depth)


def variant_specs(config: CompileCostConfig) -> Dict[str, Dict[str, Any]]:
    """The worker spec of every variant, in the interleaving order."""
    specs: Dict[str, Dict[str, Any]] = {}
    for dtype in config.dtypes:
        for mode in config.modes:
            for model in config.models:
                specs[variant_name(model, mode, dtype)] = dict(
                    model=model, family='vit', arch=config.arch, depth=config.depth,
                    img_size=config.img_size, batch_size=config.batch_size,
                    device=config.device, dtype=dtype, compile=mode == 'compiled',
                    compile_mode=config.compile_mode, num_classes=config.num_classes,
                    seed=config.seed, threads=config.threads or torch.get_num_threads(),
                    lr=config.lr, keep_memory=config.keep_memory)
    return specs


def _round_ratios(samples: Samples, top: str, bottom: str) -> Dict[str, float]:
    """Median and range of the round-by-round ratios ``top / bottom`` (same round's steps)."""
    ratios = [a / b for a, b in zip(samples.wall[top], samples.wall[bottom])]
    return dict(median=median(ratios), low=min(ratios), high=max(ratios), rounds=len(ratios))


def comparisons(config: CompileCostConfig, samples: Samples) -> List[Dict[str, Any]]:
    """ScaleNet over each plain model in every (mode, dtype), and compiled over eager of every
    (model, dtype): the ratio of the medians and the per-round ratios."""
    pairs: List[Tuple[str, str, str]] = []  # (kind, top, bottom)
    for dtype in config.dtypes:
        for mode in config.modes:
            pairs += [('model', variant_name('scalenet', mode, dtype),
                       variant_name(plain, mode, dtype))
                      for plain in config.models if plain != 'scalenet']
        if set(MODES) <= set(config.modes):
            pairs += [('mode', variant_name(model, 'compiled', dtype),
                       variant_name(model, 'eager', dtype)) for model in config.models]
    return [dict(kind=kind, top=top, bottom=bottom,
                 ratio=median(samples.wall[top]) / median(samples.wall[bottom]),
                 per_round=_round_ratios(samples, top, bottom)) for kind, top, bottom in pairs]


def run_compile_cost(config: CompileCostConfig,
                     log: Optional[Callable[[str], None]] = None) -> Dict[str, Any]:
    """Time every variant of ``config`` and return the JSON-able result."""
    config.validate()
    log = log or (lambda message: None)
    specs = variant_specs(config)
    log(f'{len(specs)} workers ({", ".join(specs)}): {config.warmup} warm-up (the first '
        f'compiles) + {config.repeats} timed rounds')

    def on_round(index: int, samples: Samples) -> None:
        last = ', '.join(f'{name} {wall[-1]:.3g} s' for name, wall in samples.wall.items())
        log(f'  round {index + 1}/{config.repeats}: {last}')

    timed = isolated_train_times(specs, config.repeats, config.warmup, on_round,
                                 parallel_first_step=config.parallel_compile,
                                 count_ops=config.count_ops)
    samples: Samples = timed['samples']
    variants = {
        name: dict(model=spec['model'], mode='compiled' if spec['compile'] else 'eager',
                   dtype=spec['dtype'], step_s=median(samples.wall[name]),
                   img_s=config.batch_size / median(samples.wall[name]),
                   step_cpu_s=median(samples.cpu[name]), first_step_s=timed['warmup_wall'][name][0],
                   samples_s=samples.wall[name], **timed['dynamo'][name],
                   **timed['ops'].get(name, dict(aten_ops=None, cuda_kernels=None)))
        for name, spec in specs.items()}
    machine = machine_info(torch.device(config.device))
    macs = flops_per_image(config)
    for values in variants.values():
        values['flops_per_image'] = macs[values['model']]
        values['train_tflops'] = achieved_tflops(macs[values['model']], values['img_s'],
                                                 training=True)
        peak = peak_tflops(machine.get('gpu'), values['dtype'])
        values['train_peak_fraction'] = (values['train_tflops'] / peak
                                         if peak and values['train_tflops'] else None)
    return dict(config=asdict(config), machine=machine,
                shape=resolve_shape('vit', config.arch, config.depth), variants=variants,
                comparisons=comparisons(config, samples))


def flops_per_image(config: CompileCostConfig) -> Dict[str, int]:
    """Multiply-adds of one image's forward per model (every use of a shared block counted),
    for the achieved TFLOP/s and the share of the card's dense peak."""
    models = build_models('vit', config.models, config.arch, config.depth, config.img_size,
                          config.num_classes, config.seed)
    image = torch.randn(1, 3, config.img_size, config.img_size)
    return {name: int(count_flops(model, image)['total']) for name, model in models.items()}


def format_compile_cost(result: Dict[str, Any]) -> str:
    """The side-by-side table and the ratio lines of a :func:`run_compile_cost` result."""
    config = result['config']
    lines = [f"ViT {config['arch']} x{config['depth']:g}, batch {config['batch_size']}, "
             f"{config['img_size']} px, {config['device']}, compile mode "
             f"{config['compile_mode'] or 'default'}; median of {config['repeats']} "
             f"interleaved rounds",
             '', '| variant | train s/step | img/s | TFLOP/s (share of peak) | first step '
             '(compiles) | graphs | graph breaks | ATen ops / GPU kernels per step |',
             '|---|---:|---:|---:|---:|---:|---:|---:|']
    for name, values in result['variants'].items():
        share = values.get('train_peak_fraction')
        tflops = (f"{values['train_tflops']:.3g}" + (f' ({100 * share:.1f} %)' if share else '')
                  if values.get('train_tflops') else '-')
        lines.append(f"| {name} | {values['step_s']:.3g} s | {values['img_s']:.3g} | {tflops} | "
                     f"{values['first_step_s']:.3g} s | {values['unique_graphs']} | "
                     f"{values['graph_breaks']} | {_ops(values)} |")
    lines += ['', '| ratio | of medians | per round: median (range) |', '|---|---:|---:|']
    for row in result['comparisons']:
        per_round = row['per_round']
        lines.append(f"| {row['top']} / {row['bottom']} | {row['ratio']:.3f} | "
                     f"{per_round['median']:.3f} ({per_round['low']:.3f}-"
                     f"{per_round['high']:.3f}) |")
    return '\n'.join(lines)


def _ops(values: Dict[str, Any]) -> str:
    if values.get('aten_ops') is None:
        return '-'
    return f"{values['aten_ops']} / {values['cuda_kernels']}"


def ratio(result: Dict[str, Any], top: str, bottom: str) -> Optional[float]:
    """The ratio of medians ``top / bottom`` of a result (None if not measured)."""
    return next((row['ratio'] for row in result['comparisons']
                 if row['top'] == top and row['bottom'] == bottom), None)
