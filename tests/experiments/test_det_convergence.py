"""experiments/det_convergence.py end to end at tiny sizes, run from another folder: it finds
tools/train.py and the shipped det config from its own location, trains the reduced config
written by scalenet_mm.testing, and prints the losses and the mAP of each evaluation."""
import os.path as osp
import subprocess
import sys

import pytest

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


@pytest.mark.slow
def test_tiny_detection_check_trains_and_reports_map(tmp_path) -> None:
    work = tmp_path / 'det'
    proc = subprocess.run([sys.executable, osp.join(REPO, 'experiments', 'det_convergence.py'),
                           '--work-dir', str(work), '--iters', '4', '--evals', '2',
                           '--num-train', '4', '--num-val', '2', '--embed-dims', '64'],
                          cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert 'trained 4 iterations' in proc.stdout
    for key in ('loss_rpn_cls', 'loss_mask', 'bbox_mAP_50', 'segm_mAP'):
        assert key in proc.stdout
    # the config the run used (mmengine dumps the resolved one into the work dir)
    from mmengine.config import Config
    cfg = Config.fromfile(str(work / 'det_convergence.py'))
    assert cfg.model.backbone.type == 'ScaleNetViT' and cfg.model.backbone.arch.embed_dims == 64
    assert cfg.optim_wrapper.paramwise_cfg.layer_decay_rate == 0.9
    assert cfg.randomness.seed == 0 and cfg.train_cfg.max_iters == 4
