"""``benchmarks/lora_cost.py`` and :mod:`benchmarks.harness.lora_cost` on tiny shapes.

No time is asserted (noise at this size): the tests check that every field is produced, that
the three timed variants compute one function (the check that guards the comparison fails
when they do not), the multiply-add model against a direct count, and the CLI's errors.
"""
import json
from pathlib import Path
from typing import Any, Callable, Dict, List

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from benchmarks.harness.lora_cost import (PARTS, VARIANTS, _LinearCase, flop_overheads,
                                            format_lora_cost, linear_shapes, measure_lora_cost)

TOOL = 'benchmarks/lora_cost.py'  # run by the ``run_script`` fixture (tests/conftest.py)
TINY = dict(embed_dims=32, num_layers=2, num_heads=2, feedforward_channels=64)


def test_shapes_are_the_four_linears_of_a_layer() -> None:
    assert linear_shapes('deit-base') == dict(qkv=(2304, 768), proj=(768, 768),
                                              fc1=(3072, 768), fc2=(768, 3072))


@pytest.mark.parametrize('variant', ['fold', 'branch'])
def test_flop_model_matches_a_counted_forward_and_backward(variant: str) -> None:
    """The extra multiply-adds of fold / branch, counted by PyTorch's FLOP counter."""
    d_out, d_in, tokens, rank = 48, 32, 40, 4
    case = _LinearCase(d_out, d_in, tokens, rank, torch.device('cpu'))

    def count(name: str) -> int:
        with FlopCounterMode(display=False) as counter:
            case.forward(name).backward(case.grad_output)
        return counter.get_total_flops()

    counted = count(variant) / count('plain') - 1.0
    assert counted == pytest.approx(flop_overheads(d_out, d_in, tokens, rank)[variant], rel=1e-9)


def test_variants_compute_one_function_and_a_wrong_one_is_caught(monkeypatch) -> None:
    case = _LinearCase(24, 16, 10, 3, torch.device('cpu'))
    assert case.check_variants_agree() < 1e-5
    plain = case.forward('plain')
    assert not torch.allclose(plain, case.forward('fold'))  # the delta is not zero
    monkeypatch.setattr(case.lora, 'branch', lambda x: torch.zeros(()))
    with pytest.raises(AssertionError, match='fold and branch differ'):
        case.check_variants_agree()


@pytest.mark.parametrize('dtype', ['fp32', 'bf16'])
def test_every_step_computes_gradients_for_what_it_uses(dtype: str) -> None:
    case = _LinearCase(24, 16, 10, 3, torch.device('cpu'))
    for variant in VARIANTS:
        case.step(variant, dtype)()
        used = case.parameters() if variant != 'plain' else case.parameters()[:3]
        assert all(t.grad is not None for t in used), variant


def test_measurement_has_every_field_and_the_table_every_row() -> None:
    result = measure_lora_cost(TINY, batch_size=1, img_size=32, patch_size=16, repeats=2,
                               warmup=0)
    assert result['setting']['tokens'] == 5 and result['setting']['instances'] == 4
    assert list(result['targets']) == ['qkv', 'proj', 'fc1', 'fc2']
    for row in result['targets'].values():
        assert set(row['ms']) == set(VARIANTS + PARTS)
        assert all(ms > 0 for ms in row['ms'].values())
    extra = result['fold_extra']
    total = result['per_instance_ms']
    assert extra['ms_per_instance'] == pytest.approx(total['fold'] - total['plain'])
    assert extra['seconds_per_step'] == pytest.approx(extra['ms_per_instance'] * 4 / 1e3)
    table = format_lora_cost(result)
    for target in ('qkv', 'proj', 'fc1', 'fc2', 'per layer instance'):
        assert target in table


def test_tool_writes_json_and_prints_the_table(tmp_path: Path, capsys,
                                                run_script: Callable[..., str]) -> None:
    out = tmp_path / 'nested' / 'lora.json'
    run_script(TOOL, ['--arch', json.dumps(TINY), '--img-size', '32', '--batch-size', '1',
                      '--repeats', '1', '--warmup', '0', '--out', str(out)])
    result: Dict[str, Any] = json.loads(out.read_text())
    assert result['machine']['torch_threads'] >= 1
    assert 'fold alone ms' in capsys.readouterr().out
    assert [p.name for p in out.parent.iterdir()] == ['lora.json']  # no temporary left


@pytest.mark.parametrize('argv, named', [
    (['--batch-size', '0'], '--batch-size'),
    (['--img-size', '230'], '--patch-size'),
    (['--warmup', '-1'], '--warmup'),
])
def test_bad_options_are_rejected_with_their_name(argv: List[str], named: str, capsys,
                                                   run_script: Callable[..., str]) -> None:
    with pytest.raises(SystemExit):
        run_script(TOOL, argv)
    assert named in capsys.readouterr().err


@pytest.mark.parametrize('arch, named', [
    ('deit-huge-typo', "arch='deit-huge-typo' is unknown"),
    ('{"embed_dims": 32', 'is not valid JSON'),
    ('{"embed_dims": 32}', 'a custom arch is a dict with keys'),
])
def test_a_bad_arch_is_a_clean_error_before_measuring(arch: str, named: str, tmp_path: Path,
                                                      capsys,
                                                      run_script: Callable[..., str]) -> None:
    out = tmp_path / 'lora.json'
    with pytest.raises(SystemExit):
        run_script(TOOL, ['--arch', arch, '--out', str(out)])
    assert named in capsys.readouterr().err
    assert not out.exists()


def test_an_unwritable_out_is_refused_before_measuring(tmp_path: Path, capsys,
                                                       run_script: Callable[..., str]) -> None:
    blocker = tmp_path / 'a_file'
    blocker.write_text('not a folder')
    with pytest.raises(SystemExit):
        run_script(TOOL, ['--arch', json.dumps(TINY), '--out', str(blocker / 'lora.json')])
    err = capsys.readouterr().err
    assert f'cannot create {blocker}' in err and 'choose a writable folder' in err
    assert blocker.read_text() == 'not a folder'


@pytest.mark.skipif(torch.cuda.is_available(), reason='checks the error where CUDA is missing')
@pytest.mark.parametrize('device, dtype, named', [
    ('cuda', 'bf16', "device='cuda' but CUDA is not available here"),
    ('cpu', 'fp16', 'dtype=fp16 needs a CUDA device'),
    ('tpu', 'fp32', "device='tpu' is not"),
])
def test_a_device_that_cannot_run_here_is_named(device: str, dtype: str, named: str) -> None:
    with pytest.raises(ValueError, match=named):
        measure_lora_cost(TINY, batch_size=1, img_size=32, repeats=1, warmup=0, device=device,
                          dtype=dtype)
