"""The ScaleNet benchmark: speed, memory and size of ScaleNet against plain ViTs or Swins, in
one run.

:func:`run_benchmark` builds the models of one family (:mod:`benchmarks.harness.families`:
``vit``, the models of :mod:`benchmarks.harness.models`; ``swin``, those of
:mod:`benchmarks.harness.swin_models`) for one arch, depth, batch, resolution, device and
dtype and measures, side by side:

* training step (forward, cross-entropy, backward, AdamW step): median seconds and images/s,
  timed in interleaved rounds, by wall clock and by process CPU time (``timer`` picks the one
  the headline fields ``train_step_s`` / ``*_img_s`` use; both are kept);
* peak training memory, each model in a fresh process (see :mod:`benchmarks.harness.memory`);
* inference images/s (eval, no grad), interleaved; for ScaleNet both with merged (cached)
  weights and with live adapters (train-mode path: fold or branch per call, nothing cached);
* unique parameters (shared tensors once), AdamW state bytes after the timed steps, checkpoint
  size on disk (state dict saved from the model's device), FLOPs per image (every use of a
  shared block counted; ScaleNet also per instance).

The result is a JSON-able dict; :func:`benchmarks.harness.report.format_table` prints it with
every figure as a ratio to the reference (the plain mmpretrain ViT / Swin of the same depth).
"""
import copy
import math
import os
import platform
import socket
import sys
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

import torch

from scalenet_mm.utils.complexity import (count_flops, count_parameter_uses,
                                          count_unique_parameters, lora_merge_flops,
                                          scalenet_instance_flops, scalenet_parameter_split)

from .families import FAMILIES, build_models, check_family, default_arch, resolve_shape
from .isolated import isolated_train_times, keep_freed_memory
from .memory import measure_in_subprocess
from .models import INFERENCE_ONLY, MODEL_NAMES, REFERENCE_MODEL
from .report import compute_ratios, key_ratios, paired_ratios
from .sizes import checkpoint_file_bytes, optimizer_state_bytes
from .throughput import achieved_tflops, peak_tflops
from .timing import (DTYPES, Samples, benchmark_adamw, check_device, interleaved_times,
                     make_infer_step, make_train_step, median, unsteady_models)

Log = Callable[[str], None]


@dataclass
class BenchmarkConfig:
    """What to benchmark; the fields mirror ``benchmarks/benchmark.py``'s options."""
    #: None: the family's default (``deit-small`` for vit, ``tiny`` for swin)
    arch: Optional[Union[str, Dict[str, Any]]] = None
    #: a factor (both families), an explicit layer count (vit) or per-stage counts (swin)
    depth: Union[float, List[int]] = 2.0
    batch_size: int = 8
    img_size: int = 224
    device: str = 'cpu'
    dtype: str = 'fp32'
    compile: bool = False
    repeats: int = 5
    warmup: int = 2
    models: Tuple[str, ...] = MODEL_NAMES
    timer: str = 'wall'
    skip_memory: bool = False
    skip_train: bool = False
    skip_infer: bool = False
    memory_steps: int = 2
    num_classes: int = 1000
    reference: str = REFERENCE_MODEL
    seed: int = 0
    lr: float = 1e-4
    #: dense peak TFLOP/s of the device at ``dtype``; None looks the GPU up in
    #: :data:`benchmarks.harness.throughput.PEAK_TFLOPS`.
    peak_tflops: Optional[float] = None
    #: time each model's training step in its own worker process (still interleaved)
    isolate: bool = False
    #: make glibc keep freed memory (no page faults after warm-up; see benchmarks/harness/isolated.py)
    keep_memory: bool = False
    extra: Dict[str, Any] = field(default_factory=dict)
    #: 'vit' (ScaleNetViT vs plain ViTs) or 'swin' (ScaleNetSwin vs plain Swins)
    family: str = 'vit'

    def __post_init__(self) -> None:
        if self.arch is None and self.family in FAMILIES:
            self.arch = default_arch(self.family)

    def validate(self) -> None:
        """Raise ValueError naming a bad option."""
        check_family(self.family)
        unknown = sorted(set(self.models) - set(MODEL_NAMES))
        if unknown or not self.models:
            raise ValueError(f'models={list(self.models)} is invalid; choose from '
                             f'{list(MODEL_NAMES)}')
        if self.timer not in ('wall', 'cpu'):
            raise ValueError(f"timer={self.timer!r} is unknown; choose 'wall' or 'cpu'")
        if self.timer == 'cpu' and not self.device.startswith('cpu'):
            raise ValueError('timer=cpu (process CPU time) is only meaningful on the CPU')
        if self.dtype not in DTYPES:
            raise ValueError(f'dtype={self.dtype!r} is unknown; choose from {list(DTYPES)}')
        if self.repeats < 1 or self.warmup < 0 or self.batch_size < 1:
            raise ValueError('repeats and batch_size must be >= 1 and warmup >= 0')
        if self.peak_tflops is not None and not (math.isfinite(self.peak_tflops)
                                                 and self.peak_tflops > 0):
            raise ValueError(f'peak_tflops={self.peak_tflops!r} is invalid; give the card\'s '
                             f'dense peak TFLOP/s at dtype={self.dtype} as a positive number '
                             f'(e.g. 989.4 for an H100/H200 in bf16), or leave it unset to '
                             f'look the GPU up')
        resolve_shape(self.family, self.arch, self.depth)
        check_device(self.device, self.dtype)


def machine_info(device: torch.device) -> Dict[str, Any]:
    """Where the numbers come from: host, CPU, threads, load average, accelerator, versions."""
    cpu = platform.processor() or platform.machine()
    try:
        with open('/proc/cpuinfo') as f:
            cpu = next((line.split(':', 1)[1].strip() for line in f
                        if line.startswith('model name')), cpu)
    except OSError:
        pass
    info: Dict[str, Any] = dict(
        hostname=socket.gethostname(), platform=platform.platform(), cpu=cpu,
        cpu_count=os.cpu_count(), torch_threads=torch.get_num_threads(),
        python=sys.version.split()[0], torch=torch.__version__,
        loadavg_start=list(os.getloadavg()) if hasattr(os, 'getloadavg') else None)
    if device.type == 'cuda':
        info['gpu'] = torch.cuda.get_device_name(device)
    return info


def _max_abs_diff(a: torch.nn.Module, b: torch.nn.Module, images: torch.Tensor) -> float:
    a.eval()
    b.eval()
    with torch.no_grad():
        return float((a(images) - b(images)).abs().max())


def measure_sizes(name: str, model: torch.nn.Module, img_size: int,
                  device: torch.device) -> Dict[str, Any]:
    """Parameters (unique / registrations), checkpoint bytes on disk and FLOPs per image."""
    counts = count_unique_parameters(model)
    fields: Dict[str, Any] = dict(
        params=counts['total'], params_trainable=counts['trainable'],
        param_registrations=count_parameter_uses(model),
        checkpoint_bytes=checkpoint_file_bytes(model))
    image = torch.randn(1, 3, img_size, img_size, device=device)
    flops = count_flops(model, image)
    fields['flops_per_image'] = flops['total']
    fields['flops_by_operator'] = flops['by_operator']
    split = scalenet_parameter_split(getattr(model, 'backbone', model))
    if split is not None:
        backbone = model.backbone
        fields['params_split'] = dict(shared=split[0], per_instance=split[1], other=split[2])
        per_instance = scalenet_instance_flops(backbone, image)
        fields['flops_per_instance'] = [dict(call=label, flops=value)
                                        for label, value in per_instance]
        fields['lora_merge_flops'] = lora_merge_flops(backbone)
    return fields


def _round_logger(log: Log, phase: str, repeats: int,
                  started: float) -> Callable[[int, Samples], None]:
    def on_round(index: int, samples: Samples) -> None:
        last = ', '.join(f'{name} {wall[-1]:.3g} s (cpu {samples.cpu[name][-1]:.3g} s)'
                         for name, wall in samples.wall.items())
        log(f'  {phase} round {index + 1}/{repeats} ({time.time() - started:.0f} s): {last}')
    return on_round


def _worker_spec(config: BenchmarkConfig, name: str) -> Dict[str, Any]:
    """What a worker process (isolated timing, peak memory) needs to build ``name``'s step."""
    return dict(model=name, family=config.family, arch=config.arch, depth=config.depth,
                img_size=config.img_size, batch_size=config.batch_size, device=config.device,
                dtype=config.dtype, compile=config.compile, num_classes=config.num_classes,
                seed=config.seed, threads=torch.get_num_threads(), lr=config.lr,
                keep_memory=config.keep_memory)


def _note_unsteady(result: Dict[str, Any], log: Log, phase: str, samples: Samples) -> None:
    """Record (and log) models whose first timed round says the warm-up was too short."""
    for name, ratio in unsteady_models(samples.wall).items():
        message = (f'{phase}: {name} took {ratio:.2f}x its later median in the first timed '
                   f'round: the warm-up was too short or the machine was busy; raise --warmup '
                   f'or run again')
        result.setdefault('warnings', []).append(message)
        log(f'  warning: {message}')


def _medians(samples: Samples, name: str, timer: str) -> Tuple[float, float, float]:
    """Median seconds of ``name``'s steps: ``(by the chosen timer, wall clock, CPU time)``."""
    wall, cpu = median(samples.wall[name]), median(samples.cpu[name])
    return (cpu if timer == 'cpu' else wall), wall, cpu


def _finish(result: Dict[str, Any], fields: Dict[str, Dict[str, Any]], reference: str,
            started: float) -> Dict[str, Any]:
    """Fill absent fields with None, add ratios, load average and wall time."""
    for name, values in fields.items():
        for key in FIELDS:
            values.setdefault(key, None)
        if name == 'scalenet':
            for key in SCALENET_FIELDS:
                values.setdefault(key, None)
    add_throughput(fields, result.get('peak_tflops'))
    result['models'] = fields
    result['ratios'] = compute_ratios(fields, reference)
    result['key_ratios'] = key_ratios(fields)
    result['paired_ratios'] = paired_ratios(fields)
    result['machine']['loadavg_end'] = (list(os.getloadavg()) if hasattr(os, 'getloadavg')
                                        else None)
    result['wall_s'] = time.time() - started
    return result


def add_throughput(fields: Dict[str, Dict[str, Any]], peak: Optional[float]) -> None:
    """Achieved TFLOP/s of training and inference per model, and the share of ``peak``."""
    for name, values in fields.items():
        macs = values.get('flops_per_image')
        train = achieved_tflops(macs, values.get('train_img_s'), training=True)
        infer = achieved_tflops(macs, values.get('infer_img_s'), training=False)
        values.update(train_tflops=train, infer_tflops=infer,
                      train_peak_fraction=train / peak if train and peak else None,
                      infer_peak_fraction=infer / peak if infer and peak else None)


def run_benchmark(config: BenchmarkConfig, log: Optional[Log] = None,
                  on_phase: Optional[Callable[[Dict[str, Any]], None]] = None
                  ) -> Dict[str, Any]:
    """Run every measurement of ``config`` and return the result dict (see module docstring).

    ``log`` receives progress lines; ``on_phase`` receives the partial result after each
    phase (sizes, training, inference, memory), so a long run that fails late keeps its
    numbers.
    """
    config.validate()
    log = log or (lambda message: None)
    if config.keep_memory and not config.isolate:
        keep_freed_memory()
    device = torch.device(config.device)
    started = time.time()
    result: Dict[str, Any] = dict(config=asdict(config), machine=machine_info(device),
                                  reference=config.reference)
    result['peak_tflops'] = (config.peak_tflops if config.peak_tflops is not None else
                             peak_tflops(result['machine'].get('gpu'), config.dtype))
    result['shape'] = resolve_shape(config.family, config.arch, config.depth)

    def phase_done(phase: str) -> None:
        result['phases_done'] = result.get('phases_done', []) + [phase]
        if on_phase is not None:
            on_phase(_finish(result, fields, config.reference, started))

    log(f'building {list(config.models)} ({config.family}) ...')
    models = build_models(config.family, config.models, config.arch, config.depth,
                          config.img_size, config.num_classes, config.seed)
    fields: Dict[str, Dict[str, Any]] = {name: {} for name in config.models}
    images = torch.randn(config.batch_size, 3, config.img_size, config.img_size)
    if 'exported' in models and 'scalenet' in models:
        fields['exported']['max_abs_diff_vs_scalenet'] = _max_abs_diff(
            models['scalenet'], models['exported'], images[:2])
    for name, model in models.items():
        model.to(device)
    images = images.to(device)
    labels = torch.randint(0, config.num_classes, (config.batch_size, ), device=device)

    for name, model in models.items():
        log(f'sizes and FLOPs: {name}')
        fields[name].update(measure_sizes(name, model, config.img_size, device))
    phase_done('sizes')

    compiled = {name: torch.compile(model) for name, model in models.items()} \
        if config.compile else {}
    trainable = [name for name in models if name not in INFERENCE_ONLY]
    steps: Dict[str, Callable[[], None]] = {}
    if not config.skip_train and trainable:
        log(f'training steps: {config.warmup} warm-up + {config.repeats} timed rounds of '
            f'{trainable}{" (one worker process each)" if config.isolate else ""}')
        on_round = _round_logger(log, 'train', config.repeats, started)
        extra: Dict[str, Dict[str, Any]] = {name: {} for name in trainable}
        if config.isolate:
            isolated = isolated_train_times(
                {name: _worker_spec(config, name) for name in trainable}, config.repeats,
                config.warmup, on_round)
            samples = isolated['samples']
            for name in trainable:
                extra[name] = dict(
                    optimizer_state_bytes=isolated['optimizer_state_bytes'][name],
                    train_page_faults=isolated['page_faults'][name],
                    train_worker_pid=isolated['pids'][name])
        else:
            optimizers = {name: benchmark_adamw(models[name].parameters(), lr=config.lr)
                          for name in trainable}
            scaler = (torch.amp.GradScaler('cuda') if config.dtype == 'fp16' else None)
            steps = {name: make_train_step(models[name], optimizers[name], images, labels,
                                           config.dtype, compiled.get(name), scaler)
                     for name in trainable}
            samples = interleaved_times(steps, config.repeats, config.warmup, on_round)
            for name in trainable:
                extra[name] = dict(optimizer_state_bytes=optimizer_state_bytes(optimizers[name]))
                models[name].zero_grad(set_to_none=True)
            steps = {}
            del optimizers
        _note_unsteady(result, log, 'train', samples)
        for name in trainable:
            step_s, wall, cpu = _medians(samples, name, config.timer)
            fields[name].update(train_step_s=step_s, train_img_s=config.batch_size / step_s,
                                train_step_wall_s=wall, train_step_cpu_s=cpu,
                                train_step_samples_s=samples.wall[name],
                                train_step_cpu_samples_s=samples.cpu[name], **extra[name])
        phase_done('train')

    if not config.skip_infer:
        for name, model in models.items():
            steps[name] = make_infer_step(model, images, config.dtype, False, compiled.get(name))
            if name == 'scalenet':
                # A copy with the same values stays in train mode (live adapters), so the
                # eval-mode original keeps its merged-weight cache across rounds.
                live = copy.deepcopy(model)
                steps['scalenet-live'] = make_infer_step(
                    live, images, config.dtype, True,
                    torch.compile(live) if config.compile else None)
        log(f'inference: {config.warmup} warm-up + {config.repeats} timed rounds of '
            f'{list(steps)}')
        samples = interleaved_times(steps, config.repeats, config.warmup,
                                    _round_logger(log, 'inference', config.repeats, started))
        _note_unsteady(result, log, 'inference', samples)
        for name in steps:
            chosen, wall, cpu = _medians(samples, name, config.timer)
            prefix = 'infer_live' if name == 'scalenet-live' else 'infer'
            fields['scalenet' if name == 'scalenet-live' else name].update({
                f'{prefix}_img_s': config.batch_size / chosen,
                f'{prefix}_wall_img_s': config.batch_size / wall,
                f'{prefix}_cpu_img_s': config.batch_size / cpu,
                f'{prefix}_step_samples_s': samples.wall[name],
                f'{prefix}_step_cpu_samples_s': samples.cpu[name]})
        steps = {}
        phase_done('inference')

    del compiled, models
    if not config.skip_memory:
        for name in trainable:
            log(f'peak training memory (fresh process): {name}')
            memory = measure_in_subprocess(dict(_worker_spec(config, name),
                                                steps=config.memory_steps))
            fields[name]['peak_train_memory_bytes'] = memory.pop('peak_memory_bytes')
            fields[name]['memory_detail'] = memory
        phase_done('memory')
    return _finish(result, fields, config.reference, started)


#: Fields every model has in the result (None where not measured or not applicable).
FIELDS: Sequence[str] = (
    'train_step_s', 'train_img_s', 'train_step_wall_s', 'train_step_cpu_s',
    'train_step_samples_s', 'train_step_cpu_samples_s', 'peak_train_memory_bytes',
    'infer_img_s', 'infer_wall_img_s', 'infer_cpu_img_s', 'infer_step_samples_s',
    'infer_step_cpu_samples_s', 'params', 'params_trainable', 'param_registrations',
    'optimizer_state_bytes', 'checkpoint_bytes', 'flops_per_image', 'train_tflops',
    'infer_tflops', 'train_peak_fraction', 'infer_peak_fraction')
#: Fields only ScaleNet has.
SCALENET_FIELDS: Sequence[str] = ('infer_live_img_s', 'infer_live_wall_img_s',
                                  'infer_live_cpu_img_s', 'params_split', 'flops_per_instance',
                                  'lora_merge_flops')
