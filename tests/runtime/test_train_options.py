"""tools/train.py --amp-dtype and --compile on CPU: a 2-iteration run of the tiny classifier,
checking the optimizer wrapper and the dtype actually used, and that the compiled train step
trained."""
import json
from pathlib import Path

import pytest
import torch

PLUGINS = Path(__file__).resolve().parents[1] / 'data' / 'plugins'
PROBE = ("custom_imports = dict(imports=['scalenet_mm', 'precision_probe_hook'], "
         "allow_failed_imports=False)\n"
         "custom_hooks = [dict(type='PrecisionProbeHook')]\n"
         "train_cfg = dict(max_iters=2, val_interval=100)\n"
         "default_hooks = dict(checkpoint=dict(interval=100))\n")


def _train(tmp_path: Path, tiny_imagefolder: Path, cls_config_writer, run_tool, *args) -> dict:
    config = cls_config_writer(tmp_path / 'probe.py', tiny_imagefolder, PROBE)
    work_dir = tmp_path / 'work'
    run_tool(['tools/train.py', config, '--work-dir', work_dir, *args], pythonpath=[PLUGINS],
             timeout=600)
    return json.loads((work_dir / 'precision_probe.json').read_text())


def test_bf16_autocast_trains_on_cpu(tmp_path, tiny_imagefolder, cls_config_writer,
                                     run_tool) -> None:
    if torch.cuda.is_available():
        pytest.skip('checks the CPU path (with a GPU mmengine AmpOptimWrapper is used)')
    probe = _train(tmp_path, tiny_imagefolder, cls_config_writer, run_tool,
                   '--amp-dtype', 'bfloat16')
    assert probe['wrapper'] == 'AutocastOptimWrapper'
    assert probe['cast_dtype'] == 'torch.bfloat16' and not probe['has_loss_scaler']
    assert probe['linear_dtypes'] == ['torch.bfloat16']  # the forward really ran in bf16
    assert probe['iters'] == 2


def test_float32_without_amp(tmp_path, tiny_imagefolder, cls_config_writer, run_tool) -> None:
    """Control: without the option the same probe sees float32 and the plain wrapper."""
    probe = _train(tmp_path, tiny_imagefolder, cls_config_writer, run_tool)
    assert probe['wrapper'] == 'OptimWrapper'
    assert probe['linear_dtypes'] == ['torch.float32'] and not probe['compiled']


def test_compile_compiles_the_train_step_and_trains(tmp_path, tiny_imagefolder,
                                                    cls_config_writer, run_tool) -> None:
    """--compile sets cfg.compile=True; the backend is chosen with --cfg-options (eager keeps
    the test fast: dynamo traces the step, no C++ build)."""
    probe = _train(tmp_path, tiny_imagefolder, cls_config_writer, run_tool, '--compile',
                   '--cfg-options', 'compile.backend=eager')
    assert probe['compiled'] and probe['iters'] == 2
