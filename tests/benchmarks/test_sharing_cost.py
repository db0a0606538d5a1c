"""``benchmarks/sharing_cost.py``: the optimizer step and the DDP gradient all-reduce, on a tiny
ViT.

No time is asserted. The tests check what the numbers are *of*: AdamW steps every trainable
tensor once (its state is two fp32 moments per element plus a step counter per tensor), and
the buckets real ``DistributedDataParallel`` all-reduces under a real 2-process ``torchrun``
hold exactly the unique trainable elements (a shared block's gradient is sent once, not once
per use), so ScaleNet sends fewer bytes than the plain model of the same depth.
"""
import runpy
import sys
from pathlib import Path
from typing import Any, Dict, List

import pytest

from benchmarks.harness.families import build_models
from scalenet_mm.utils.complexity import count_unique_parameters

REPO_ROOT = Path(__file__).resolve().parents[2]
TOOL = REPO_ROOT / 'benchmarks' / 'sharing_cost.py'
TINY = '{"embed_dims": 32, "num_layers": 2, "num_heads": 2, "feedforward_channels": 64}'
TINY_ARGS = ['--arch', TINY, '--img-size', '32', '--repeats', '1', '--warmup', '0',
             '--threads', '1', '--models', 'scalenet', 'mmpretrain']


def run_tool(argv: List[str]) -> Dict[str, Any]:
    old = sys.argv
    sys.argv = [str(TOOL)] + argv
    try:
        return runpy.run_path(str(TOOL), run_name='not_main')['main'](argv)
    finally:
        sys.argv = old


def unique_trainable(name: str) -> int:
    """Trainable elements of the tiny model, shared tensors once (the package's own count)."""
    import json
    model = build_models('vit', [name], json.loads(TINY), 2.0, 32)[name]
    return count_unique_parameters(model)['trainable']


def test_optimizer_steps_every_trainable_tensor_once(capsys) -> None:
    result = run_tool(TINY_ARGS + ['--skip-allreduce'])
    for implementation in ('foreach', 'fused'):
        rows = result['optimizer'][implementation]
        for name in ('scalenet', 'mmpretrain'):
            row = rows[name]
            assert row['elements'] == unique_trainable(name)
            # AdamW: exp_avg and exp_avg_sq in fp32 per element, one fp32 step per tensor.
            assert row['state_bytes'] == 8 * row['elements'] + 4 * row['tensors']
            assert row['step_s'] > 0
        assert rows['scalenet']['elements'] < rows['mmpretrain']['elements']
    printed = capsys.readouterr().out
    assert 'AdamW (fused) step alone' in printed and '| scalenet |' in printed


@pytest.mark.slow
def test_ddp_all_reduces_each_shared_gradient_once(capsys) -> None:
    result = run_tool(TINY_ARGS + ['--skip-optimizer'])
    allreduce = result['allreduce']
    assert allreduce['world_size'] == 2 and allreduce['backend'] == 'gloo'
    for name in ('scalenet', 'mmpretrain'):
        assert allreduce[name]['elements'] == unique_trainable(name)
        assert allreduce[name]['bytes'] == 4 * allreduce[name]['elements']
        assert allreduce[name]['buckets'] >= 1 and allreduce[name]['allreduce_s'] > 0
    assert allreduce['scalenet']['bytes'] < allreduce['mmpretrain']['bytes']
    assert 'DDP gradient all-reduce per step (2 processes, gloo)' in capsys.readouterr().out


@pytest.mark.parametrize('argv, message', [
    (['--models', 'scalenet', '--reference', 'mmpretrain'], 'is not among --models'),
    (['--nproc', '1'], '--nproc must be >= 2'),
    (['--arch', '{"embed_dims": 32'], 'is not valid JSON'),
])
def test_bad_options_name_the_problem(argv: List[str], message: str, capsys) -> None:
    with pytest.raises(SystemExit):
        run_tool(argv)
    assert message in capsys.readouterr().err
