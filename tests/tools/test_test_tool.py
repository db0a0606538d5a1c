"""tools/test.py evaluates a classification checkpoint: prints top-1/top-5, dumps the
predictions (--out) and draws them (--show-dir)."""
import pickle
import re
from pathlib import Path

import pytest


def test_test_tool_prints_topk_dumps_and_draws(tmp_path: Path, tiny_cls_config: Path,
                                               tiny_imagefolder: Path, trained_tiny_cls: Path,
                                               run_tool) -> None:
    val_images = sorted(tiny_imagefolder.glob('val/*/*.png'))
    out, show_dir = tmp_path / 'preds.pkl', tmp_path / 'vis'
    checkpoint = trained_tiny_cls / 'iter_4.pth'
    # A Runner checkpoint outside the work dir is refused (weights-only) unless trusted.
    refused = run_tool(['tools/test.py', tiny_cls_config, checkpoint, '--work-dir',
                        tmp_path / 'work'], check=False)
    assert refused.returncode != 0 and 'UnsafeCheckpointError' in refused.stdout
    assert f'--trust-checkpoint {checkpoint}' in refused.stdout
    proc = run_tool(['tools/test.py', tiny_cls_config, checkpoint, '--work-dir',
                     tmp_path / 'work', '--out', out, '--show-dir', show_dir,
                     '--trust-checkpoint', trained_tiny_cls])
    metrics = re.search(r'accuracy/top1: ([\d.]+)\s+accuracy/top5: ([\d.]+)', proc.stdout)
    assert metrics, proc.stdout[-3000:]
    top1, top5 = float(metrics.group(1)), float(metrics.group(2))
    assert 0.0 <= top1 <= top5 == 100.0  # 5 classes: the true class is always in the top 5

    with open(out, 'rb') as f:
        preds = pickle.load(f)
    assert len(preds) == len(val_images) == 10
    assert {Path(p['img_path']).name for p in preds} == {p.name for p in val_images}
    assert all(p['pred_score'].shape == (5,) for p in preds)

    drawn = list(show_dir.rglob('*.png'))
    assert len(drawn) == len(val_images), sorted(map(str, drawn))


def test_test_tool_missing_checkpoint_is_a_clear_error(tmp_path: Path, tiny_cls_config: Path,
                                                       run_tool_inprocess) -> None:
    with pytest.raises(FileNotFoundError, match="nope.pth' does not exist"):
        run_tool_inprocess('tools/test.py', tiny_cls_config, tmp_path / 'nope.pth',
                           '--work-dir', tmp_path)
    assert not (tmp_path / 'nope.pth').exists() and not list(tmp_path.iterdir())


def test_test_tool_rejects_non_pickle_out(tmp_path: Path, tiny_cls_config: Path,
                                          run_tool_inprocess) -> None:
    checkpoint = tmp_path / 'model.pth'
    checkpoint.write_bytes(b'')
    with pytest.raises(ValueError, match=r"preds\.json.*\.pkl"):
        run_tool_inprocess('tools/test.py', tiny_cls_config, checkpoint,
                           '--out', tmp_path / 'preds.json')
