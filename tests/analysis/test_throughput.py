"""Achieved TFLOP/s and the peak table of the benchmark."""
import pytest

from scalenet_mm.analysis.benchmark import add_throughput
from scalenet_mm.analysis.report import format_throughput
from scalenet_mm.analysis.throughput import achieved_tflops, peak_tflops


def test_training_counts_three_passes_of_two_flops_per_mac():
    # 1 GMAC per image at 1000 img/s: 2 TFLOP/s for inference, 6 for a training step.
    assert achieved_tflops(1e9, 1000.0, training=False) == pytest.approx(2.0)
    assert achieved_tflops(1e9, 1000.0, training=True) == pytest.approx(6.0)
    assert achieved_tflops(None, 1000.0, training=True) is None
    assert achieved_tflops(1e9, None, training=False) is None


def test_peak_lookup_by_gpu_name_and_dtype():
    assert peak_tflops('NVIDIA H200', 'bf16') == pytest.approx(989.4)
    assert peak_tflops('NVIDIA H100 80GB HBM3', 'fp16') == pytest.approx(989.4)
    assert peak_tflops('NVIDIA A100-SXM4-40GB', 'bf16') == pytest.approx(312.0)
    assert peak_tflops('Some Other GPU', 'bf16') is None
    assert peak_tflops(None, 'bf16') is None


def test_add_throughput_fills_fractions_only_with_a_peak():
    fields = {'a': dict(flops_per_image=1e9, train_img_s=100.0, infer_img_s=500.0),
              'b': dict(flops_per_image=1e9, train_img_s=None, infer_img_s=250.0)}
    add_throughput(fields, peak=10.0)
    assert fields['a']['train_tflops'] == pytest.approx(0.6)
    assert fields['a']['train_peak_fraction'] == pytest.approx(0.06)
    assert fields['a']['infer_peak_fraction'] == pytest.approx(0.1)
    assert fields['b']['train_tflops'] is None and fields['b']['train_peak_fraction'] is None
    text = format_throughput(fields, 10.0)
    assert '0.6 (6.0% of 10)' in text and 'b: - |' in text
    add_throughput(fields, peak=None)
    assert fields['a']['train_peak_fraction'] is None
