"""``tools/analysis/benchmark.py`` on a tiny model: every field in the JSON and the table.

Nothing here asserts a time: timings on a shared machine are noise at this size. The
run with peak-memory subprocesses (a fresh interpreter per model) is marked slow.
"""
import json
import runpy
import sys
from pathlib import Path
from typing import Any, Dict, List

import pytest

from scalenet_mm.analysis.benchmark import FIELDS, SCALENET_FIELDS
from scalenet_mm.analysis.models import MODEL_NAMES
from scalenet_mm.analysis.report import COLUMNS, LIVE_ROW

REPO_ROOT = Path(__file__).resolve().parents[2]
TOOL = REPO_ROOT / 'tools' / 'analysis' / 'benchmark.py'
TINY = json.dumps(dict(embed_dims=32, num_layers=2, num_heads=2, feedforward_channels=64))


def run_tool(tmp_path: Path, capsys: pytest.CaptureFixture, extra: List[str]) -> Dict[str, Any]:
    out = tmp_path / 'bench.json'
    argv = [str(TOOL), '--arch', TINY, '--img-size', '32', '--batch-size', '2', '--repeats', '1',
            '--warmup', '0', '--quiet', '--out', str(out)] + extra
    old = sys.argv
    sys.argv = argv
    try:
        runpy.run_path(str(TOOL), run_name='__main__')
    finally:
        sys.argv = old
    result = json.loads(out.read_text())
    result['_stdout'] = capsys.readouterr().out
    return result


@pytest.fixture(scope='module')
def quick_result(tmp_path_factory: pytest.TempPathFactory) -> Dict[str, Any]:
    import contextlib
    import io
    out = tmp_path_factory.mktemp('bench') / 'bench.json'
    buffer = io.StringIO()
    old = sys.argv
    sys.argv = [str(TOOL), '--arch', TINY, '--img-size', '32', '--batch-size', '2',
                '--repeats', '1', '--warmup', '0', '--quiet', '--skip-memory', '--out', str(out)]
    try:
        with contextlib.redirect_stdout(buffer):
            runpy.run_path(str(TOOL), run_name='__main__')
    finally:
        sys.argv = old
    result = json.loads(out.read_text())
    result['_stdout'] = buffer.getvalue()
    return result


def test_every_model_has_every_field(quick_result):
    models = quick_result['models']
    assert list(models) == list(MODEL_NAMES)
    for name, fields in models.items():
        missing = [f for f in FIELDS if f not in fields]
        assert not missing, (name, missing)
        for key in ('params', 'checkpoint_bytes', 'flops_per_image', 'infer_img_s'):
            assert fields[key] > 0, (name, key)
        if name == 'exported':
            assert fields['train_step_s'] is None  # deployed only, never trained here
        else:
            assert fields['train_step_s'] > 0 and fields['optimizer_state_bytes'] > 0
            assert len(fields['train_step_samples_s']) == 1
    for key in SCALENET_FIELDS:
        assert models['scalenet'][key] is not None, key
    assert len(models['scalenet']['flops_per_instance']) == 4


def test_json_records_config_machine_and_ratios(quick_result):
    assert quick_result['config']['batch_size'] == 2
    assert quick_result['machine']['cpu_count'] >= 1
    assert quick_result['machine']['loadavg_start'] is not None
    assert quick_result['reference'] == 'mmpretrain'
    ratios = quick_result['ratios']
    assert ratios['mmpretrain']['train_step_s'] == pytest.approx(1.0)
    assert LIVE_ROW in ratios and ratios[LIVE_ROW]['infer_img_s'] > 0
    # sizes are deterministic: the 2x model shares 2 blocks, so it is smaller than plain 4-layer
    assert ratios['scalenet']['flops_per_image'] == pytest.approx(1.0)
    assert ratios['exported']['params'] == pytest.approx(1.0)
    assert ratios['pretrained']['flops_per_image'] < 1.0


def test_exported_model_computes_the_scalenet_function(quick_result):
    assert quick_result['models']['exported']['max_abs_diff_vs_scalenet'] < 1e-4


def test_table_has_every_column_and_row(quick_result):
    table = quick_result['_stdout']
    for _, title, _ in COLUMNS:
        assert title in table
    for row in ('scalenet', LIVE_ROW, 'mmpretrain (ref)', 'timm', 'pretrained (L=2)',
                'exported'):
        assert row in table
    assert '(1.000x)' in table
    assert 'load average' in table


@pytest.mark.slow
def test_peak_memory_measured_in_fresh_processes(tmp_path, capsys):
    result = run_tool(tmp_path, capsys, ['--models', 'scalenet', 'mmpretrain', '--skip-train',
                                         '--skip-infer', '--memory-steps', '1'])
    for name in ('scalenet', 'mmpretrain'):
        fields = result['models'][name]
        assert fields['peak_train_memory_bytes'] > 0, fields.get('memory_detail')
        assert fields['memory_detail']['kind'] == 'cpu_peak_rss_minus_baseline'
    assert 'peak train mem' in result['_stdout']


@pytest.mark.parametrize('option, value, named', [
    ('peak_tflops', 0.0, 'peak_tflops=0.0'),
    ('peak_tflops', -989.4, 'peak_tflops=-989.4'),
    ('peak_tflops', float('nan'), 'peak_tflops=nan'),
    ('timer', 'gpu', "timer='gpu'"),
    ('models', ('scalenet', 'resnet'), 'models='),
    ('repeats', 0, 'repeats'),
])
def test_bad_options_are_rejected_with_their_name(option: str, value: Any, named: str) -> None:
    from scalenet_mm.analysis.benchmark import BenchmarkConfig
    config = BenchmarkConfig(arch=json.loads(TINY), **{option: value})
    with pytest.raises(ValueError, match=named.replace('(', r'\(').replace('[', r'\[')):
        config.validate()


def test_a_positive_peak_is_accepted() -> None:
    from scalenet_mm.analysis.benchmark import BenchmarkConfig
    BenchmarkConfig(arch=json.loads(TINY), peak_tflops=989.4).validate()
