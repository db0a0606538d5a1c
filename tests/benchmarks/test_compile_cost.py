"""``benchmarks/compile_cost.py`` and :mod:`benchmarks.harness.compile_cost`.

No time is asserted: the unit tests check which variants are built and how the ratios are
computed from samples; the slow test runs the tool on a tiny ViT, eager and compiled (inductor
on the CPU), and checks that every field is written, that the compiled workers really compiled
their training step into graphs with no graph break (and dispatch fewer operators), and that the
eager ones did not compile.
"""
import json
import sys
from pathlib import Path
from typing import Callable

import pytest

from benchmarks.harness.compile_cost import (CompileCostConfig, comparisons, ratio,
                                             variant_name, variant_specs)
from benchmarks.harness.timing import Samples

REPO_ROOT = Path(__file__).resolve().parents[2]
TOOL = 'benchmarks/compile_cost.py'  # run by the ``run_script`` fixture (tests/conftest.py)
TINY_ARCH = '{"embed_dims": 32, "num_layers": 2, "num_heads": 2, "feedforward_channels": 64}'


def test_every_model_mode_and_dtype_is_one_worker_with_its_settings() -> None:
    config = CompileCostConfig(models=('scalenet', 'timm'), dtypes=('fp32', 'bf16'),
                               compile_mode='max-autotune-no-cudagraphs', threads=2)
    specs = variant_specs(config)
    assert list(specs) == [variant_name(m, mode, d) for d in ('fp32', 'bf16')
                           for mode in ('eager', 'compiled') for m in ('scalenet', 'timm')]
    compiled = specs['timm/compiled/bf16']
    assert compiled['model'] == 'timm' and compiled['compile'] and compiled['dtype'] == 'bf16'
    assert compiled['compile_mode'] == 'max-autotune-no-cudagraphs' and compiled['threads'] == 2
    assert not specs['scalenet/eager/fp32']['compile']


@pytest.mark.parametrize('change, message', [
    (dict(models=('timm', 'mmpretrain')), 'give scalenet'),
    (dict(models=('scalenet', )), 'give scalenet'),
    (dict(modes=('jit', )), 'modes='),
    (dict(dtypes=('fp16', )), 'fp16 needs a CUDA device'),
    (dict(warmup=0), 'the first warm-up step compiles'),
    (dict(depth=0.0), 'ScaleNet only adds layers'),
])
def test_bad_settings_are_refused_before_any_model_is_built(change, message) -> None:
    with pytest.raises(ValueError, match=message):
        CompileCostConfig(**change).validate()


def test_ratios_are_scalenet_over_plain_and_compiled_over_eager_per_round() -> None:
    config = CompileCostConfig(models=('scalenet', 'timm'))
    wall = {'scalenet/eager/fp32': [2.0, 2.2, 2.4], 'timm/eager/fp32': [2.0, 2.0, 2.0],
            'scalenet/compiled/fp32': [1.0, 1.5, 1.2], 'timm/compiled/fp32': [1.0, 1.0, 1.5]}
    rows = comparisons(config, Samples(wall=wall, cpu=wall))
    by_pair = {(row['top'], row['bottom']): row for row in rows}
    assert set(by_pair) == {('scalenet/eager/fp32', 'timm/eager/fp32'),
                            ('scalenet/compiled/fp32', 'timm/compiled/fp32'),
                            ('scalenet/compiled/fp32', 'scalenet/eager/fp32'),
                            ('timm/compiled/fp32', 'timm/eager/fp32')}
    eager = by_pair[('scalenet/eager/fp32', 'timm/eager/fp32')]
    assert eager['ratio'] == pytest.approx(1.1)
    assert eager['per_round'] == dict(median=pytest.approx(1.1), low=pytest.approx(1.0),
                                      high=pytest.approx(1.2), rounds=3)
    # per round 1.0, 1.5, 0.8: its median differs from the ratio of the medians (1.2 / 1.0)
    compiled = by_pair[('scalenet/compiled/fp32', 'timm/compiled/fp32')]
    assert compiled['ratio'] == pytest.approx(1.2)
    assert compiled['per_round']['median'] == pytest.approx(1.0)
    assert compiled['per_round']['low'] == pytest.approx(0.8)
    result = dict(comparisons=rows)
    assert ratio(result, 'scalenet/compiled/fp32', 'scalenet/eager/fp32') == pytest.approx(
        1.2 / 2.2)
    assert ratio(result, 'timm/eager/fp32', 'scalenet/eager/fp32') is None


def test_the_tool_refuses_a_bad_option_with_a_message(run_script: Callable[..., str]) -> None:
    with pytest.raises(SystemExit) as refused:
        run_script(TOOL, ['--models', 'timm', 'mmpretrain', '--arch', TINY_ARCH])
    assert 'give scalenet' in str(refused.value.code)


@pytest.mark.slow
def test_tiny_run_writes_every_variant_and_the_compiled_ones_have_no_graph_break(
        tmp_path, capsys, run_script: Callable[..., str]) -> None:
    out = tmp_path / 'compile.json'
    run_script(TOOL, ['--arch', TINY_ARCH, '--img-size', '32', '--batch-size', '2',
                      '--threads', '1', '--repeats', '1', '--warmup', '1', '--num-classes', '10',
                      '--count-ops', '--out', str(out)])
    printed = capsys.readouterr().out
    result = json.loads(out.read_text())
    assert set(result['variants']) == {'scalenet/eager/fp32', 'timm/eager/fp32',
                                       'scalenet/compiled/fp32', 'timm/compiled/fp32'}
    for name, values in result['variants'].items():
        assert values['step_s'] > 0 and values['first_step_s'] > 0 and values['img_s'] > 0
        assert len(values['samples_s']) == 1
        if values['mode'] == 'compiled':
            assert values['unique_graphs'] >= 1, name
            assert values['graph_breaks'] == 0, name
        else:
            assert values['unique_graphs'] == 0 and values['graph_breaks'] == 0, name
    assert len(result['comparisons']) == 4
    variants = result['variants']
    for model in ('scalenet', 'timm'):
        eager, compiled = variants[f'{model}/eager/fp32'], variants[f'{model}/compiled/fp32']
        # a compiled graph fuses the elementwise work: far fewer ATen calls than eager's
        assert 0 < compiled['aten_ops'] < eager['aten_ops'], model
        assert eager['cuda_kernels'] == 0
    # ScaleNet dispatches its LoRA folds on top of the plain model's work
    assert variants['scalenet/eager/fp32']['aten_ops'] > variants['timm/eager/fp32']['aten_ops']
    # the same work per image: every use of a shared block is counted
    assert variants['scalenet/eager/fp32']['flops_per_image'] == pytest.approx(
        variants['timm/eager/fp32']['flops_per_image'], rel=0.02)
    assert 'scalenet/compiled/fp32 / timm/compiled/fp32' in printed
    assert result['machine']['cpu_count'] >= 1


@pytest.mark.slow
def test_gpu_round_script_smoke_part_runs_on_this_machine(tmp_path) -> None:
    """The GPU round's script (prepared here, run once on a lent GPU) works end to end on its
    tiny ``smoke`` part with this environment: the stack imports, the tool runs in bf16,
    eager and compiled, and the JSON lands in $OUT."""
    import os
    import subprocess
    env = dict(os.environ, OUT=str(tmp_path), PYTHON=sys.executable)
    done = subprocess.run(['bash', str(REPO_ROOT / 'benchmarks/gpu/issue19_round.sh'), 'smoke'],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert 'torch' in (tmp_path / 'versions.txt').read_text()
    result = json.loads((tmp_path / 'smoke.json').read_text())
    assert {values['dtype'] for values in result['variants'].values()} == {'bf16'}
    assert {values['mode'] for values in result['variants'].values()} == {'eager', 'compiled'}
    usage = subprocess.run(['bash', str(REPO_ROOT / 'benchmarks/gpu/issue19_round.sh')],
                           env=env, capture_output=True, text=True)
    assert usage.returncode == 2 and 'usage' in usage.stderr
