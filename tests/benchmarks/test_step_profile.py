"""``benchmarks/step_profile.py`` and :mod:`benchmarks.harness.step_profile`.

No time is asserted: the categorisation is checked on the shapes it is given, and the tool on a
tiny ViT: the LoRA category holds time only for ScaleNet, the parts add up, and every field is
written.
"""
import json
from pathlib import Path
from typing import Callable

from benchmarks.harness.step_profile import (CATEGORIES, categorise, lora_and_weight_shapes,
                                             profile_step)
from benchmarks.harness.families import build_models

TOOL = 'benchmarks/step_profile.py'  # run by the ``run_script`` fixture (tests/conftest.py)
TINY = dict(embed_dims=32, num_layers=2, num_heads=2, feedforward_channels=64)
TINY_ARCH = json.dumps(TINY)


def test_calls_are_put_in_their_category_by_their_input_shapes() -> None:
    lora, weights = {(96, 4), (4, 32)}, {(96, 32), (32, 32)}
    assert categorise('aten::addmm', [[96, 32], [96, 4], [4, 32], [], []], lora, weights) == 'lora'
    assert categorise('aten::mm', [[96, 32], [32, 4]], lora | {(32, 4)}, weights) == 'lora'
    assert categorise('aten::copy_', [[96, 32], [96, 32], []], lora, weights) == \
        'weight_copy_add'
    assert categorise('aten::add', [[32, 32], [32, 32], []], lora, weights) == 'weight_copy_add'
    # a product with the weight, or a copy of activations, is what a plain model does too
    assert categorise('aten::mm', [[1576, 32], [32, 96]], lora, weights) == 'other'
    assert categorise('aten::copy_', [[8, 96], [8, 96], []], lora, weights) == 'other'
    assert categorise('aten::copy_', [[96, 32], [32, 32], []], lora, weights) == 'other'


def test_the_models_lora_and_weight_shapes() -> None:
    models = build_models('vit', ['scalenet', 'timm'], TINY, 2.0, 32, 1000)
    lora, weights = lora_and_weight_shapes(models['scalenet'])
    assert {(96, 32), (32, 32), (64, 32), (32, 64)} <= weights  # qkv, proj, fc1, fc2
    # rank 10 (the benchmark's) on the four linears: B is (d_out, 10), A is (10, d_in)
    assert lora == {(96, 10), (32, 10), (64, 10), (10, 32), (10, 64)}
    assert lora_and_weight_shapes(models['timm'])[0] == set()


def test_the_tool_profiles_both_models_and_writes_every_field(
        run_script: Callable, tmp_path: Path) -> None:
    out = tmp_path / 'profile.json'
    text = run_script(TOOL, ['--arch', TINY_ARCH, '--img-size', '32', '--batch-size', '2',
                             '--threads', '1', '--warmup', '1', '--repeats', '1', '--out',
                             str(out)], capture=True)
    result = json.loads(out.read_text())
    seconds = result['seconds']
    assert set(seconds) == {'scalenet', 'timm'}
    assert seconds['scalenet']['lora'] > 0 and seconds['timm']['lora'] == 0
    for parts in seconds.values():
        assert parts['forward_backward'] == sum(parts[key] for key in CATEGORIES)
        assert parts['step'] == parts['forward_backward'] + parts['optimizer_step']
        assert parts['optimizer_step'] > 0
    assert '| lora |' in text and 'share of timm step' in text
    assert result['machine']['cpu_count'] >= 1


def test_profile_step_runs_in_process() -> None:
    result = profile_step(TINY, 2.0, batch_size=1, img_size=32, threads=1, warmup=0,
                          repeats=1)
    assert result['config']['repeats'] == 1
    assert set(result['seconds']['scalenet']) >= set(CATEGORIES) | {'optimizer_step'}
