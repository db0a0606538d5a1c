"""tools/test.py evaluates a classification checkpoint: prints top-1/top-5, dumps the
predictions (--out) and draws them (--show-dir); --compile gives the eager run's results
through torch.compile, --amp tests under autocast (test_cfg.fp16)."""
import pickle
import re
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import pytest
import torch
from mmengine.config import Config


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


def _test_run(run_tool, config: Path, trained: Path, work_dir: Path, *options: str,
              env: Optional[Dict[str, str]] = None
              ) -> Tuple[str, Tuple[float, float], List[dict]]:
    """tools/test.py on the trained tiny classifier: (output, (top-1, top-5), predictions)."""
    out = work_dir / 'preds.pkl'
    proc = run_tool(['tools/test.py', config, trained / 'iter_4.pth', '--work-dir', work_dir,
                     '--out', out, '--trust-checkpoint', trained, *options], env=env)
    metrics = re.search(r'accuracy/top1: ([\d.]+)\s+accuracy/top5: ([\d.]+)', proc.stdout)
    assert metrics, proc.stdout[-3000:]
    with open(out, 'rb') as f:
        preds = pickle.load(f)
    return proc.stdout, (float(metrics.group(1)), float(metrics.group(2))), preds


@pytest.fixture(scope='module')
def eager_test_run(tmp_path_factory: pytest.TempPathFactory, tiny_cls_config: Path,
                   trained_tiny_cls: Path, run_tool) -> Tuple[Tuple[float, float], List[dict]]:
    """The plain run (float32, uncompiled) the --compile and --amp runs are compared with."""
    _, metrics, preds = _test_run(run_tool, tiny_cls_config, trained_tiny_cls,
                                  tmp_path_factory.mktemp('eager'))
    return metrics, preds


def _scores(preds: List[dict]) -> torch.Tensor:
    """The predicted class scores, ordered by image path (float32)."""
    ordered = sorted(preds, key=lambda p: p['img_path'])
    return torch.stack([p['pred_score'].float() for p in ordered])


def test_test_tool_compile_matches_eager(tmp_path: Path, tiny_cls_config: Path,
                                         trained_tiny_cls: Path, eager_test_run,
                                         run_tool) -> None:
    # TORCH_LOGS=dynamo: torch itself logs that dynamo traced test_step (proof it was compiled).
    out, metrics, preds = _test_run(run_tool, tiny_cls_config, trained_tiny_cls, tmp_path,
                                    '--compile', '--cfg-options', 'compile.backend=eager',
                                    env={'TORCH_LOGS': 'dynamo'})
    assert "test_step has been compiled with torch.compile({'backend': 'eager'})" in out
    assert re.search(r'torchdynamo start tracing test_step', out), out[-3000:]
    eager_metrics, eager_preds = eager_test_run
    assert metrics == eager_metrics
    torch.testing.assert_close(_scores(preds), _scores(eager_preds))
    dumped = Config.fromfile(tmp_path / tiny_cls_config.name)  # the Runner's config dump
    assert dumped.compile == dict(backend='eager')


def test_test_tool_amp_tests_under_autocast(tmp_path: Path, tiny_cls_config: Path,
                                            trained_tiny_cls: Path, eager_test_run,
                                            run_tool) -> None:
    _, metrics, preds = _test_run(run_tool, tiny_cls_config, trained_tiny_cls, tmp_path, '--amp')
    dumped = Config.fromfile(tmp_path / tiny_cls_config.name)  # the Runner's config dump
    assert dumped.test_cfg.fp16 is True
    assert 0.0 <= metrics[0] <= metrics[1] == 100.0
    # bfloat16 autocast on CPU (float16 on a GPU): close to the float32 scores, not equal to them
    scores, eager = _scores(preds), _scores(eager_test_run[1])
    torch.testing.assert_close(scores, eager, atol=0.05, rtol=0)
    assert not torch.equal(scores, eager), 'the --amp run computed exactly the float32 scores'
