"""tools/dist_train.sh and tools/dist_test.sh on a machine without a GPU: two real torchrun
processes train with gloo and CPU DDP (different data, identical parameters at the end),
and test with the evaluation gathered from both ranks."""
import pickle
import re
from pathlib import Path

import pytest
import torch



@pytest.mark.slow
@pytest.mark.skipif(torch.cuda.is_available(), reason='checks the CPU (gloo) path')
def test_dist_train_two_cpu_processes(tmp_path: Path, tiny_imagefolder: Path, repo_root: Path,
                                      cls_config_writer, unused_port: int, run_tool) -> None:
    config = cls_config_writer(
        tmp_path / 'tiny_dist.py', tiny_imagefolder,
        extra="custom_imports = dict(imports=['scalenet_mm', 'rank_state_hook'], "
              "allow_failed_imports=False)\n"
              "custom_hooks = [dict(type='RankStateHook')]\n")
    work_dir = tmp_path / 'work'
    run_tool(['bash', 'tools/dist_train.sh', config, '2', '--work-dir', work_dir],
             env=dict(PORT=str(unused_port)), pythonpath=[repo_root / 'tests/data/plugins'],
             timeout=400)

    states = [torch.load(work_dir / f'rank{r}_state.pth', weights_only=False) for r in (0, 1)]
    assert [s['rank'] for s in states] == [0, 1]
    assert all(s['world_size'] == 2 and s['backend'] == 'gloo' for s in states)
    assert all(s['wrapper'] == 'MMDistributedDataParallel' for s in states)
    # Each rank trained on its own half of the first epoch (10 of the 20 images).
    assert set(states[0]['seen'][:10]).isdisjoint(states[1]['seen'][:10])
    assert len(states[0]['seen']) == len(states[1]['seen']) == 16  # 4 iters x batch 4

    final0, final1 = states[0]['state_dict'], states[1]['state_dict']
    assert final0.keys() == final1.keys()
    for key in final0:
        assert torch.equal(final0[key], final1[key]), f'{key} differs between ranks'
    changed = [k for k in final0 if not torch.equal(final0[k], states[0]['initial_state_dict'][k])]
    assert 'backbone.layers.0.attn.qkv.weight' in changed  # training really updated weights
    assert (work_dir / 'iter_4.pth').is_file()


@pytest.mark.slow
@pytest.mark.skipif(torch.cuda.is_available(), reason='checks the CPU (gloo) path')
def test_dist_test_gathers_both_ranks(tmp_path: Path, tiny_cls_config: Path,
                                      trained_tiny_cls: Path, unused_port: int,
                                      run_tool) -> None:
    out = tmp_path / 'preds.pkl'
    proc = run_tool(['bash', 'tools/dist_test.sh', tiny_cls_config,
                     trained_tiny_cls / 'iter_4.pth', '2', '--work-dir', tmp_path / 'work',
                     '--out', out, '--trust-checkpoint', trained_tiny_cls],
                    env=dict(PORT=str(unused_port)), timeout=400)
    assert 'Distributed launcher: pytorch' in proc.stdout
    assert re.search(r'accuracy/top1: [\d.]+\s+accuracy/top5: 100\.0000', proc.stdout)
    with open(out, 'rb') as f:
        preds = pickle.load(f)
    # Each rank evaluated half of the 10 validation images; rank 0 gathered all of them.
    assert len({p['img_path'] for p in preds}) == 10
