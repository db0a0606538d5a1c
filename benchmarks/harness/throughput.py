"""Achieved arithmetic throughput (TFLOP/s) of a benchmarked model, and the card's peak.

The FLOP counts of :mod:`scalenet_mm.utils.complexity` follow fvcore's convention (one fused
multiply-add = one FLOP). Hardware peaks count a multiply-add as two operations, so the
achieved figure here is ``2 * MACs * passes * images/s``, with one pass for inference and three
for a training step (forward, and a backward that costs about twice the forward: gradients
for activations and for weights). The same convention is used for every model, so ratios
between models are exact even where the 3x estimate of backward is not.
"""
from typing import Dict, Optional

#: Dense (no sparsity) tensor-core peaks in TFLOP/s by GPU name fragment and autocast dtype,
#: from the vendors' data sheets. SXM parts; a PCIe card's peak is lower, so pass
#: ``--peak-tflops`` for it. Absent entries give no utilisation figure rather than a guess.
PEAK_TFLOPS: Dict[str, Dict[str, float]] = {
    'H200': {'bf16': 989.4, 'fp16': 989.4, 'fp32': 494.7},
    'H100': {'bf16': 989.4, 'fp16': 989.4, 'fp32': 494.7},
    'A100': {'bf16': 312.0, 'fp16': 312.0, 'fp32': 156.0},
}

#: Passes over the forward's FLOPs: inference 1, training step about 3.
TRAIN_PASSES = 3.0


def peak_tflops(gpu_name: Optional[str], dtype: str) -> Optional[float]:
    """The table's dense peak for ``gpu_name`` at ``dtype`` (fp32 means TF32 tensor cores).

    None for a card the table does not hold, a dtype it has no figure for, and PCIe variants
    of the listed GPUs (their peaks are lower; ``--peak-tflops`` gives theirs), so no
    utilisation is computed against a wrong peak.
    """
    if not gpu_name or 'PCIE' in gpu_name.upper():  # the table holds SXM parts only
        return None
    for fragment, peaks in PEAK_TFLOPS.items():
        if fragment in gpu_name.upper():
            return peaks.get(dtype)
    return None


def achieved_tflops(macs_per_image: Optional[float], images_per_s: Optional[float],
                    training: bool) -> Optional[float]:
    """Hardware TFLOP/s implied by a FLOP (MAC) count per image and a measured rate."""
    if not macs_per_image or not images_per_s:
        return None
    passes = TRAIN_PASSES if training else 1.0
    return 2.0 * macs_per_image * passes * images_per_s / 1e12
