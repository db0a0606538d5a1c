"""``benchmarks/benchmark.py --family swin`` on a tiny Swin: the Swin row of the benchmark.

As in ``test_benchmark_tool.py`` nothing here asserts a time. The run end to end (sizes,
training, inference) is one module fixture; the worker processes (isolated timing, peak
memory in fresh interpreters) are checked in-process through the worker spec, and end to end
in a slow test.
"""
import json
from pathlib import Path
from typing import Any, Callable, Dict, List

import pytest

from benchmarks.harness.benchmark import FIELDS, SCALENET_FIELDS, BenchmarkConfig, _worker_spec
from benchmarks.harness.families import FAMILIES, default_arch, resolve_shape
from benchmarks.harness.models import MODEL_NAMES
from benchmarks.harness.report import COLUMNS, LIVE_ROW

TOOL = 'benchmarks/benchmark.py'  # run by the ``run_script`` fixture (tests/conftest.py)
TINY_SWIN = dict(embed_dims=16, depths=[2, 2, 2, 2], num_heads=[1, 2, 4, 8])
# 224 px is the smallest size Swin-T's geometry (patch 4, window 7) takes without padding:
# the last stage's map is 7 x 7. At width 16 a step still takes a fraction of a second.
BASE_ARGV = ['--family', 'swin', '--arch', json.dumps(TINY_SWIN), '--img-size', '224',
             '--batch-size', '2', '--repeats', '1', '--warmup', '0', '--quiet']
RunScript = Callable[..., str]


def run_tool(run_script: RunScript, out: Path, extra: List[str]) -> Dict[str, Any]:
    """Run the CLI in this process with one torch thread (``run_script`` restores the count:
    ``--threads`` sets the process-wide one; one thread keeps the run fast on a small shared
    machine); its JSON, with the stdout as ``_stdout``."""
    printed = run_script(TOOL, BASE_ARGV + ['--threads', '1', '--out', str(out)] + extra,
                         capture=True)
    result = json.loads(out.read_text())
    result['_stdout'] = printed
    return result


@pytest.fixture(scope='module')
def swin_result(tmp_path_factory: pytest.TempPathFactory,
                run_script: RunScript) -> Dict[str, Any]:
    return run_tool(run_script, tmp_path_factory.mktemp('bench') / 'swin.json',
                    ['--skip-memory'])


def test_every_swin_model_has_every_field(swin_result):
    models = swin_result['models']
    assert list(models) == list(MODEL_NAMES)
    for name, fields in models.items():
        missing = [f for f in FIELDS if f not in fields]
        assert not missing, (name, missing)
        for key in ('params', 'checkpoint_bytes', 'flops_per_image', 'infer_img_s'):
            assert fields[key] > 0, (name, key)
    for name in ('scalenet', 'mmpretrain', 'timm', 'pretrained'):
        assert models[name]['train_step_s'] > 0 and models[name]['train_img_s'] > 0, name
        assert models[name]['optimizer_state_bytes'] > 0, name
    assert models['exported']['train_step_s'] is None  # deployed only, never trained here
    for key in SCALENET_FIELDS:
        assert models['scalenet'][key] is not None, key
    assert models['scalenet']['infer_live_img_s'] > 0


def test_swin_sizes_count_shared_blocks_once_and_every_instance(swin_result):
    models, ratios = swin_result['models'], swin_result['ratios']
    # sharing saves parameters, not compute: the same FLOPs as the plain Swin of 4-4-4-4 blocks
    assert ratios['scalenet']['flops_per_image'] == pytest.approx(1.0)
    assert ratios['timm']['params'] == pytest.approx(1.0)
    assert ratios['exported']['params'] == pytest.approx(1.0)
    assert ratios['scalenet']['params'] < 0.8
    assert ratios['pretrained']['flops_per_image'] < 1.0
    split = models['scalenet']['params_split']
    assert split['shared'] > 0 and split['per_instance'] > 0 and split['other'] > 0
    assert models['scalenet']['lora_merge_flops'] > 0
    calls = models['scalenet']['flops_per_instance']
    assert len(calls) == 16  # 4 stages x 4 instances, every use of a shared block
    assert calls[0]['call'] == 'stages.0.instances.0->stages.0.blocks.0'
    assert calls[2]['call'] == 'stages.0.instances.2->stages.0.blocks.0'  # cyclic map
    assert all(c['flops'] > 0 for c in calls)
    assert sum(c['flops'] for c in calls) < models['scalenet']['flops_per_image']


def test_exported_swin_computes_the_scalenet_function(swin_result):
    assert swin_result['models']['exported']['max_abs_diff_vs_scalenet'] < 1e-4


def test_result_records_the_family_and_the_swin_shape(swin_result):
    assert swin_result['config']['family'] == 'swin'
    assert swin_result['config']['arch'] == TINY_SWIN
    shape = swin_result['shape']
    assert shape == dict(family='swin', embed_dims=16, depths=[2, 2, 2, 2],
                         num_heads=[1, 2, 4, 8], scaled_depths=[4, 4, 4, 4],
                         stage_widths=[16, 32, 64, 128], num_layers=8, scaled_layers=16)
    key = swin_result['key_ratios']
    assert key['unique params: ScaleNet / plain same-depth ViT'] == pytest.approx(
        swin_result['ratios']['scalenet']['params'])


def test_swin_table_names_the_family_and_shape(swin_result):
    out = swin_result['_stdout']
    assert ('family swin: embed_dims 16, depths 2-2-2-2 -> 4-4-4-4 blocks per stage (8 -> 16), '
            'heads 1-2-4-8') in out
    for _, title, _ in COLUMNS:
        assert title in out
    for row in ('scalenet', LIVE_ROW, 'mmpretrain (ref)', 'timm', 'pretrained (2-2-2-2)',
                'exported'):
        assert row in out
    assert 'train step: ScaleNet / plain same-depth Swin:' in out
    assert 'same-depth ViT' not in out
    assert 'exported vs ScaleNet max |logit diff|' in out


def test_each_family_has_its_default_arch():
    assert FAMILIES == ('vit', 'swin')
    assert BenchmarkConfig().arch == default_arch('vit') == 'deit-small'
    assert BenchmarkConfig(family='swin').arch == default_arch('swin') == 'tiny'
    assert resolve_shape('swin', 'tiny', 2.0)['scaled_depths'] == [4, 4, 12, 4]
    BenchmarkConfig(family='swin').validate()


@pytest.mark.parametrize('options, named', [
    (dict(family='resnet'), r"family='resnet' is unknown; choose from \['vit', 'swin'\]"),
    (dict(family='swin', arch='deit-small'), "arch='deit-small' is unknown"),
    (dict(family='vit', arch='tiny'), "'tiny'"),
    (dict(family='swin', arch=dict(embed_dims=16, num_layers=2, num_heads=2,
                                   feedforward_channels=64)), 'custom Swin arch'),
    (dict(family='swin', arch=TINY_SWIN, depth=1.25), 'whole number'),
    (dict(family='swin', arch=TINY_SWIN, depth=3), 'ambiguous'),
])
def test_bad_family_arch_or_depth_is_refused_with_its_name(options, named):
    config = BenchmarkConfig(**options)
    with pytest.raises(ValueError, match=named):
        config.validate()


def test_cli_refuses_an_unknown_family(capsys, run_script: RunScript):
    with pytest.raises(SystemExit) as exit_info:
        run_script(TOOL, ['--family', 'resnet'])
    assert exit_info.value.code == 2
    assert "--family: invalid choice: 'resnet'" in capsys.readouterr().err


def test_cli_refuses_a_vit_arch_for_swin(tmp_path, run_script: RunScript):
    out = tmp_path / 'bench.json'
    with pytest.raises(SystemExit, match="arch='deit-small' is unknown"):
        run_script(TOOL, ['--family', 'swin', '--arch', 'deit-small', '--out', str(out)])
    assert not out.exists()


def test_worker_spec_carries_the_family_and_builds_the_swin_step():
    from benchmarks.harness.sizes import optimizer_state_bytes
    from benchmarks.harness.swin_models import build_swin_models
    from benchmarks.harness.timing import build_train_step
    from scalenet_mm.utils.complexity import count_unique_parameters
    config = BenchmarkConfig(family='swin', arch=TINY_SWIN, batch_size=1, num_classes=10)
    spec = json.loads(json.dumps(_worker_spec(config, 'scalenet')))  # as a worker gets it
    assert spec['family'] == 'swin' and spec['arch'] == TINY_SWIN
    spec['threads'] = None  # leave this process's thread count alone
    step, optimizer = build_train_step(spec)
    step()
    unique = count_unique_parameters(build_swin_models(['scalenet'], TINY_SWIN, 2.0, 224,
                                                       num_classes=10)['scalenet'])['total']
    params = sum(p.numel() for group in optimizer.param_groups for p in group['params'])
    assert params == unique  # the shared-block ScaleNetSwin, not a ViT or a plain Swin
    assert optimizer_state_bytes(optimizer) >= 2 * 4 * unique


@pytest.mark.slow
def test_swin_workers_time_and_measure_memory_in_fresh_processes(tmp_path,
                                                                  run_script: RunScript):
    import os
    result = run_tool(run_script, tmp_path / 'swin.json', ['--models', 'scalenet',
                                                           '--skip-infer', '--isolate',
                                                           '--memory-steps', '1'])
    fields = result['models']['scalenet']
    assert fields['train_step_s'] > 0
    assert fields['train_worker_pid'] not in (None, os.getpid())
    assert fields['optimizer_state_bytes'] > 0  # measured in the worker, after its steps
    assert fields['peak_train_memory_bytes'] > 0, fields.get('memory_detail')
    assert fields['memory_detail']['kind'] == 'cpu_peak_rss_minus_baseline'
