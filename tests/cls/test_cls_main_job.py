"""The Fashion-MNIST main job (tools/run_main_job.py) in a reduced form, end to end.

Pretrain (tools/train.py), publish, scale 2x with ScaleNet loading backbone and head,
the no-expansion control, evaluation (tools/test.py), the table; then a re-run that
reuses every finished step. Needs the real Fashion-MNIST files (Debian package
``dataset-fashion-mnist`` or ``data/fashion_mnist``); skipped with the fix otherwise.
"""
import json
import os.path as osp
import sys
from pathlib import Path
from typing import List

import pytest

from scalenet_mm.datasets import fashion_mnist as fm

REPO = Path(__file__).resolve().parents[2]
SOURCES = [fm.DEBIAN_DIR, str(REPO / 'data' / 'fashion_mnist')]
TINY = ['--layers', '2', '--embed-dims', '32', '--heads', '2', '--lora-rank', '2',
        '--patch-size', '4', '--train-size', '256', '--val-size', '64', '--test-size', '200',
        '--pretrain-epochs', '1', '--scale-epochs', '1', '--batch-size', '64']


def _source() -> str:
    found = [s for s in SOURCES if fm.find_source([s])]
    if not found:
        pytest.skip(f'Fashion-MNIST not found in {SOURCES}; install it with '
                    f'`apt-get install {fm.DEBIAN_PACKAGE}`')
    return found[0]


def _job(work_dir: Path, data_root: Path, extra: List[str] = ()) -> List[str]:
    return [sys.executable, 'tools/run_main_job.py', '--work-dir', str(work_dir),
            '--data-root', str(data_root), '--data-source', _source(), '--no-download',
            *TINY, *extra]


@pytest.mark.slow
def test_main_job_end_to_end_and_rerun(tmp_path: Path, run_tool) -> None:
    work_dir, data_root = tmp_path / 'quickstart', tmp_path / 'fashion_mnist'
    proc = run_tool(_job(work_dir, data_root), timeout=900)
    out = proc.stdout

    # Every step ran through the project's tools, with mmengine's progress logging.
    assert 'tools/train.py configs/cls/fashion_mnist/vit_L4_fmnist.py' in out
    assert 'tools/train.py configs/cls/fashion_mnist/scalenet_2x_fmnist.py' in out
    assert 'tools/train.py configs/cls/fashion_mnist/vit_L4_continue_fmnist.py' in out
    assert out.count('tools/test.py configs/cls/fashion_mnist/') == 3
    assert 'Epoch(train) [1][4/4]' in out  # 256 images in batches of 64

    # Checkpoints, the published weights-only file and the logs stay in the work dir.
    for step in ('vit_L', 'scalenet', 'vit_L_continued'):
        assert (work_dir / step / 'epoch_1.pth').is_file()
        assert list((work_dir / step).glob('*/*.log'))
    published = json.loads((work_dir / 'pretrained' / 'source.json').read_text())['published']
    import torch
    state = torch.load(published, weights_only=True)['state_dict']  # no pickle needed
    assert 'backbone.layers.1.attn.qkv.weight' in state and 'head.layers.head.weight' in state

    # The ScaleNet step loaded the pretrained backbone (54 tensors of a 2-layer ViT is
    # the whole backbone) and head.
    scale_log = next((work_dir / 'scalenet').glob('*/*.log')).read_text()
    assert f'Loaded {published} (mmpretrain layout)' in scale_log
    assert 'load head. in model from' in scale_log

    # The table: accuracy of each model on the test subset, unique params, times.
    results = json.loads((work_dir / 'results.json').read_text())
    rows = {row['name']: row for row in results['rows']}
    assert set(rows) == {'vit_L', 'scalenet', 'vit_L_continued'}
    for row in rows.values():
        assert 0.0 <= row['top1'] <= 100.0
        assert row['train_seconds'] > 0 and row['test_seconds'] > 0
    assert rows['vit_L']['params'] == rows['vit_L_continued']['params']
    # 2 source layers run as 4 instances, rank-2 LoRA on qkv/proj/fc1/fc2 of each:
    # rank * ((32 + 96) + (32 + 32) + (32 + 128) + (128 + 32)) = 2 * 512 per instance.
    assert rows['scalenet']['params'] - rows['vit_L']['params'] == 4 * 2 * 512
    assert rows['scalenet']['layers'] == '4 (2)'
    table = (work_dir / 'results.md').read_text()
    assert '| model | layers run (stored) | unique params | top-1 on 200 test images' in table
    assert table in out.replace('\r', '')

    # Re-running with the same options reuses every step.
    again = run_tool(_job(work_dir, data_root), timeout=600).stdout
    assert '[main job] $' not in again  # no tool was started
    assert again.count('reusing') == 3
    assert json.loads((work_dir / 'results.json').read_text())['rows'][1]['top1'] == \
        rows['scalenet']['top1']


@pytest.mark.slow
def test_changed_options_rerun_only_what_changed(tmp_path: Path, run_tool) -> None:
    """A new LoRA rank retrains the ScaleNet step and keeps the pretrained one."""
    work_dir, data_root = tmp_path / 'quickstart', tmp_path / 'fashion_mnist'
    run_tool(_job(work_dir, data_root, ['--no-baseline']), timeout=900)
    first = osp.getmtime(work_dir / 'vit_L' / 'epoch_1.pth')
    out = run_tool(_job(work_dir, data_root, ['--no-baseline', '--lora-rank', '1']),
                   timeout=900).stdout
    assert 'tools/train.py configs/cls/fashion_mnist/vit_L4_fmnist.py' not in out
    assert 'tools/train.py configs/cls/fashion_mnist/scalenet_2x_fmnist.py' in out
    assert 'made with other options' in out
    assert osp.getmtime(work_dir / 'vit_L' / 'epoch_1.pth') == first
    rows = json.loads((work_dir / 'results.json').read_text())['rows']
    assert [row['name'] for row in rows] == ['vit_L', 'scalenet']  # --no-baseline
    assert rows[1]['params'] - rows[0]['params'] == 4 * 1 * 512  # rank 1
