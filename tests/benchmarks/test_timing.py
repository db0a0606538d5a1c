"""The benchmark's steady-state check: a first timed round far above the rest is reported."""
from typing import Any, Dict, List

from benchmarks.harness.benchmark import _note_unsteady
from benchmarks.harness.timing import Samples, interleaved_times, unsteady_models


def test_a_slow_first_round_is_flagged_with_its_ratio() -> None:
    flagged = unsteady_models({'scalenet': [30.6, 28.1, 27.5, 27.4, 27.8],
                               'mmpretrain': [26.7, 27.0, 27.7, 27.2, 27.5]})
    assert list(flagged) == ['scalenet']
    assert abs(flagged['scalenet'] - 30.6 / 27.65) < 1e-9


def test_steady_or_short_series_are_not_flagged() -> None:
    assert unsteady_models({'a': [1.04, 1.0, 1.0, 1.0]}) == {}        # within 5 %
    assert unsteady_models({'a': [0.5, 1.0, 1.0]}) == {}              # fast first round
    assert unsteady_models({'a': [9.0, 1.0]}) == {}                   # too few to judge
    assert unsteady_models({'a': [1.2, 1.0, 1.0]}, tolerance=0.25) == {}


def test_interleaved_rounds_run_each_step_once_per_round_after_warmup() -> None:
    calls: List[str] = []
    steps = {name: (lambda name=name: calls.append(name)) for name in ('a', 'b')}
    samples = interleaved_times(steps, repeats=3, warmup=2)
    assert calls == ['a', 'b'] * 5
    assert [len(samples.wall[n]) for n in 'ab'] == [3, 3]
    assert [len(samples.cpu[n]) for n in 'ab'] == [3, 3]


def test_warnings_land_in_the_result_and_the_log() -> None:
    result: Dict[str, Any] = {}
    lines: List[str] = []
    samples = Samples(wall={'scalenet': [2.0, 1.0, 1.0], 'timm': [1.0, 1.0, 1.0]},
                      cpu={'scalenet': [2.0, 1.0, 1.0], 'timm': [1.0, 1.0, 1.0]})
    _note_unsteady(result, lines.append, 'train', samples)
    assert len(result['warnings']) == 1
    assert result['warnings'][0].startswith('train: scalenet took 2.00x')
    assert '--warmup' in result['warnings'][0]
    assert lines and 'warning' in lines[0]
