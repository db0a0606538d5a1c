"""Achieved TFLOP/s of the benchmark, the peak lookup and the utilisation it gives."""
import pytest

from benchmarks.harness.benchmark import add_throughput
from benchmarks.harness.report import format_throughput
from benchmarks.harness.throughput import achieved_tflops, peak_tflops


def test_training_counts_three_passes_of_two_flops_per_mac():
    # 1 GMAC per image at 1000 img/s: 2 TFLOP/s for inference, 6 for a training step.
    assert achieved_tflops(1e9, 1000.0, training=False) == pytest.approx(2.0)
    assert achieved_tflops(1e9, 1000.0, training=True) == pytest.approx(6.0)
    assert achieved_tflops(None, 1000.0, training=True) is None
    assert achieved_tflops(1e9, None, training=False) is None


def test_peak_lookup_matches_name_fragments_and_refuses_what_it_does_not_know(monkeypatch):
    """The lookup, on a table of its own: the shipped figures are data sheet values that a
    test could only copy."""
    from benchmarks.harness import throughput
    monkeypatch.setattr(throughput, 'PEAK_TFLOPS', {'H100': {'bf16': 100.0},
                                                    'A100': {'bf16': 50.0, 'fp32': 25.0}})
    assert peak_tflops('NVIDIA H100 80GB HBM3', 'bf16') == 100.0  # a fragment of the name
    assert peak_tflops('nvidia a100-sxm4-40gb', 'fp32') == 25.0  # case-insensitive
    assert peak_tflops('NVIDIA H100 80GB HBM3', 'fp32') is None  # no figure for the dtype
    assert peak_tflops('NVIDIA H100 PCIe', 'bf16') is None  # lower peak than the SXM entry
    assert peak_tflops('Some Other GPU', 'bf16') is None
    assert peak_tflops(None, 'bf16') is None


def test_an_explicit_peak_wins_over_the_table(monkeypatch):
    from benchmarks.harness import benchmark
    monkeypatch.setattr(benchmark, 'peak_tflops', lambda gpu, dtype: 1000.0)
    config = benchmark.BenchmarkConfig(
        arch=dict(embed_dims=32, num_layers=1, num_heads=2, feedforward_channels=64),
        depth=2.0, batch_size=1, img_size=32, models=('mmpretrain', ), skip_memory=True,
        skip_train=True, skip_infer=True, peak_tflops=10.0)
    assert benchmark.run_benchmark(config)['peak_tflops'] == 10.0
    config.peak_tflops = None
    assert benchmark.run_benchmark(config)['peak_tflops'] == 1000.0


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
