"""``benchmarks/benchmark.py`` on a tiny model: every field in the JSON and the table.

Nothing here asserts a time: timings on a shared machine are noise at this size. The
run with peak-memory subprocesses (a fresh interpreter per model) is marked slow. Whether
``--keep-memory`` stops page faults is a property of the machine's glibc, not of this code:
``python benchmarks/benchmark.py --check-keep-memory`` checks it (2.5 GiB), not the suite.
"""
import json
from pathlib import Path
from typing import Any, Callable, Dict, List

import pytest

from benchmarks.harness.benchmark import FIELDS, SCALENET_FIELDS
from benchmarks.harness.models import MODEL_NAMES
from benchmarks.harness.report import COLUMNS, LIVE_ROW

TOOL = 'benchmarks/benchmark.py'  # run by the ``run_script`` fixture (tests/conftest.py)
TINY = json.dumps(dict(embed_dims=32, num_layers=2, num_heads=2, feedforward_channels=64))
RunScript = Callable[..., str]


def run_tool(run_script: RunScript, tmp_path: Path, capsys: pytest.CaptureFixture,
             extra: List[str]) -> Dict[str, Any]:
    """Run the CLI on the tiny ViT in this process; its JSON, with the stdout as ``_stdout``."""
    out = tmp_path / 'bench.json'
    run_script(TOOL, ['--arch', TINY, '--img-size', '32', '--batch-size', '2', '--repeats', '1',
                      '--warmup', '0', '--quiet', '--out', str(out)] + extra)
    result = json.loads(out.read_text())
    result['_stdout'] = capsys.readouterr().out
    return result


@pytest.fixture(scope='module')
def quick_result(tmp_path_factory: pytest.TempPathFactory,
                 run_script: RunScript) -> Dict[str, Any]:
    out = tmp_path_factory.mktemp('bench') / 'bench.json'
    printed = run_script(TOOL, ['--arch', TINY, '--img-size', '32', '--batch-size', '2',
                                '--repeats', '1', '--warmup', '0', '--quiet', '--skip-memory',
                                '--out', str(out)], capture=True)
    result = json.loads(out.read_text())
    result['_stdout'] = printed
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
    paired = quick_result['paired_ratios']['train step per round: ScaleNet / timm same-depth ViT']
    models = quick_result['models']
    one_round = models['scalenet']['train_step_s'] / models['timm']['train_step_s']
    assert paired['rounds'] == 1
    assert paired['median'] == paired['low'] == paired['high'] == pytest.approx(one_round)
    assert 'train step per round: ScaleNet / timm same-depth ViT: median' in quick_result['_stdout']


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
def test_peak_memory_measured_in_fresh_processes(tmp_path, capsys, run_script: RunScript):
    result = run_tool(run_script, tmp_path, capsys, ['--models', 'scalenet', 'mmpretrain',
                                                     '--skip-train', '--skip-infer',
                                                     '--memory-steps', '1'])
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
    ('dtype', 'fp16', 'dtype=fp16 needs a CUDA device'),
])
def test_bad_options_are_rejected_with_their_name(option: str, value: Any, named: str) -> None:
    from benchmarks.harness.benchmark import BenchmarkConfig
    config = BenchmarkConfig(arch=json.loads(TINY), **{option: value})
    with pytest.raises(ValueError, match=named.replace('(', r'\(').replace('[', r'\[')):
        config.validate()


def test_a_positive_peak_is_accepted() -> None:
    from benchmarks.harness.benchmark import BenchmarkConfig
    BenchmarkConfig(arch=json.loads(TINY), peak_tflops=989.4).validate()


def test_paired_ratios_pair_each_round_and_give_the_spread() -> None:
    from benchmarks.harness.report import paired_ratios
    models = {'scalenet': dict(train_step_samples_s=[7.5, 7.7, 7.79, 7.55, 7.92]),
              'timm': dict(train_step_samples_s=[7.5, 7.85, 7.54, 7.7, 7.61]),
              'mmpretrain': dict(train_step_samples_s=[7.0, 7.0])}  # a round is missing
    out = paired_ratios(models)
    vs_timm = out['train step per round: ScaleNet / timm same-depth ViT']
    assert vs_timm['rounds'] == 5
    assert vs_timm['median'] == pytest.approx(1.0)
    assert vs_timm['low'] == pytest.approx(7.55 / 7.7)
    assert vs_timm['high'] == pytest.approx(7.92 / 7.61)
    assert out['train step per round: ScaleNet / plain same-depth ViT'] is None


@pytest.mark.slow
def test_isolated_timing_runs_each_model_in_its_own_worker(tmp_path, capsys,
                                                           run_script: RunScript):
    result = run_tool(run_script, tmp_path, capsys, ['--skip-memory', '--skip-infer',
                                                     '--isolate', '--keep-memory',
                                                     '--repeats', '2',
                                                     '--models', 'scalenet', 'mmpretrain'])
    import os
    models = result['models']
    pids = {name: models[name]['train_worker_pid'] for name in ('scalenet', 'mmpretrain')}
    assert len(set(pids.values())) == 2 and os.getpid() not in pids.values()
    for name in pids:
        assert len(models[name]['train_step_samples_s']) == 2
        assert len(models[name]['train_page_faults']) == 2
        assert models[name]['train_step_s'] > 0
        assert models[name]['optimizer_state_bytes'] > 0  # measured in the worker, after steps
    assert result['config']['isolate'] and result['config']['keep_memory']
    # the worker's AdamW state of the shared model is smaller than the plain model's
    assert models['scalenet']['optimizer_state_bytes'] < models['mmpretrain']['optimizer_state_bytes']


def test_a_failing_worker_names_the_model_and_its_error() -> None:
    from benchmarks.harness.isolated import isolated_train_times
    spec = dict(model='scalenet', arch=dict(embed_dims=30, num_layers=2, num_heads=4,
                                            feedforward_channels=64),
                depth=2.0, img_size=32, batch_size=2, device='cpu', dtype='fp32',
                compile=False, num_classes=10, seed=0, threads=1)
    with pytest.raises(RuntimeError, match=r"(?s)worker for 'scalenet' exited.*not divisible by num_heads"):
        isolated_train_times({'scalenet': spec}, repeats=1, warmup=0)


def test_a_killed_worker_is_reported_as_probably_out_of_memory() -> None:
    from benchmarks.harness.isolated import StepWorker
    worker = StepWorker(dict(model='timm', arch='deit-tiny', depth=2.0, img_size=32,
                             batch_size=1, device='cpu', dtype='fp32', num_classes=10, seed=0))
    worker.process.kill()  # what the kernel's OOM killer does
    try:
        with pytest.raises(RuntimeError, match=r"'timm' exited with code -9.*out of memory"):
            worker.wait_ready()
    finally:
        worker.close()


def test_a_malformed_arch_json_is_named(tmp_path: Path, run_script: RunScript) -> None:
    out = tmp_path / 'bench.json'
    with pytest.raises(SystemExit, match=r"--arch '\{\"embed_dims\": 32' is not valid JSON"):
        run_script(TOOL, ['--arch', '{"embed_dims": 32', '--out', str(out)])
    assert not out.exists()
