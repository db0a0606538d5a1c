"""Peak training memory of one model, measured in a fresh process.

Peak resident memory (CPU) is a high-water mark of the whole process, so each model is measured
in its own interpreter: ``python -m benchmarks.harness.memory '<json>'`` builds one model,
runs a few training steps and prints one JSON line. On CUDA the figure is
``torch.cuda.max_memory_allocated``; on CPU it is the peak RSS minus the RSS before the model
was built (imports excluded, so the figure is the model's weights, gradients, optimizer state
and activations).
"""
import json
import os
import resource
import subprocess
import sys
from typing import Any, Dict, Optional

from . import worker_env

MARKER = 'SCALENET_MEMORY_RESULT '


def _status_bytes(field: str) -> Optional[int]:
    """A ``kB`` field of ``/proc/self/status`` in bytes (None where there is no such file)."""
    try:
        with open('/proc/self/status') as f:
            for line in f:
                if line.startswith(field + ':'):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def current_rss_bytes() -> int:
    """Resident set size of this process now (``VmRSS``)."""
    value = _status_bytes('VmRSS')
    return value if value is not None else peak_rss_bytes()


def peak_rss_bytes() -> int:
    """High-water resident set size of this process image (``VmHWM``).

    Not ``getrusage().ru_maxrss``: Linux carries the parent's high-water mark across
    ``fork``/``exec`` into it, so a child of a large benchmark process would report the
    parent's peak. ``ru_maxrss`` is only the fallback where ``/proc`` is missing.
    """
    value = _status_bytes('VmHWM')
    if value is not None:
        return value
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == 'darwin' else peak * 1024


def measure(spec: Dict[str, Any]) -> Dict[str, Any]:
    """Build ``spec['model']`` and run ``spec['steps']`` training steps; return peak memory.

    ``spec`` holds the benchmark settings: ``model, family, arch, depth, img_size,
    batch_size, device, dtype, compile, steps, num_classes, seed`` and optionally ``threads``.
    """
    import mmpretrain.models.backbones  # noqa: F401  (import every builder before the baseline)
    import timm.models.swin_transformer  # noqa: F401
    import timm.models.vision_transformer  # noqa: F401
    import torch

    import scalenet_mm.models.backbones.scalenet_swin  # noqa: F401
    import scalenet_mm.models.backbones.scalenet_vit  # noqa: F401
    from .timing import build_train_step

    device = torch.device(spec['device'])
    if spec.get('threads'):  # before the baseline, so the thread pool is not counted as ours
        torch.set_num_threads(int(spec['threads']))
    baseline = current_rss_bytes()
    if device.type == 'cuda':
        torch.cuda.reset_peak_memory_stats(device)
    step, _ = build_train_step(spec)
    for _ in range(spec['steps']):
        step()
    if device.type == 'cuda':
        return dict(peak_memory_bytes=int(torch.cuda.max_memory_allocated(device)),
                    kind='cuda_max_memory_allocated')
    peak = peak_rss_bytes()
    return dict(peak_memory_bytes=int(peak - baseline), peak_rss_bytes=int(peak),
                baseline_rss_bytes=int(baseline), kind='cpu_peak_rss_minus_baseline')


def measure_in_subprocess(spec: Dict[str, Any], timeout: float = 3600.0) -> Dict[str, Any]:
    """Run :func:`measure` in a fresh interpreter and return its result (or an ``error``)."""
    proc = subprocess.run([sys.executable, '-m', __name__, json.dumps(spec)],
                          capture_output=True, text=True, timeout=timeout, env=worker_env())
    for line in proc.stdout.splitlines():
        if line.startswith(MARKER):
            return json.loads(line[len(MARKER):])
    tail = (proc.stderr or proc.stdout)[-2000:]
    return dict(peak_memory_bytes=None, error=f'exit {proc.returncode}: {tail}')


if __name__ == '__main__':
    import warnings
    warnings.filterwarnings('ignore')
    print(MARKER + json.dumps(measure(json.loads(sys.argv[1]))), flush=True)
