"""End to end through the project's tools on a generated COCO shapes set (8 train / 4 val
images of 128 px) with the reduced ScaleNet B-2x config: tools/train.py trains a few
iterations, tools/test.py evaluates the checkpoint with pycocotools (bbox and segm mAP) and
paints predictions with --show-dir, mmdet's DetInferencer runs our config and checkpoint, and
tools/dist_train.sh trains on 2 CPU processes (gloo DDP) with activation checkpointing and
find_unused_parameters=False."""
import json
import os
import os.path as osp
import re
from pathlib import Path

import cv2
import numpy as np
import pytest

from det_helpers import write_reduced_det_config

pytestmark = pytest.mark.slow
CONFIG = 'mask_rcnn_scalenet_b2x.py'
ITERS = 4


@pytest.fixture(scope='module')
def trained_det(tmp_path_factory: pytest.TempPathFactory, shapes_data, run_tool) -> dict:
    """A work dir where tools/train.py trained the reduced B-2x Mask R-CNN for 4 iterations."""
    root = tmp_path_factory.mktemp('det_train')
    config = write_reduced_det_config(root / 'det_b2x_tiny.py', CONFIG, shapes_data,
                                      max_iters=ITERS)
    work_dir = root / 'work'
    proc = run_tool(['tools/train.py', config, '--work-dir', work_dir], timeout=600)
    checkpoint = work_dir / f'iter_{ITERS}.pth'
    assert checkpoint.is_file(), sorted(os.listdir(work_dir))
    return dict(config=config, checkpoint=checkpoint, log=proc.stdout, root=root)


def test_train_logs_losses_and_layer_decay(trained_det) -> None:
    log = trained_det['log']
    losses = [float(v) for v in re.findall(r'Iter\(train\) \[\s*\d+/\d+\].*? loss: ([\d.]+)', log)]
    assert len(losses) == ITERS and all(np.isfinite(losses))
    for key in ('loss_rpn_cls', 'loss_rpn_bbox', 'loss_cls', 'loss_bbox', 'loss_mask'):
        assert key in log
    assert 'layer-wise lr decay: rate 0.8, 6 depths' in log
    assert 'marked as ready twice' not in log


def test_test_tool_evaluates_coco_and_paints(trained_det, shapes_data, run_tool,
                                             tmp_path: Path) -> None:
    show_dir = tmp_path / 'vis'
    proc = run_tool(['tools/test.py', trained_det['config'], trained_det['checkpoint'],
                     '--work-dir', tmp_path / 'work', '--show-dir', show_dir,
                     '--trust-checkpoint', trained_det['checkpoint'],
                     '--out', tmp_path / 'preds.pkl'], timeout=600)
    out = proc.stdout
    assert 'Evaluate annotation type *bbox*' in out and 'Evaluate annotation type *segm*' in out
    for metric in ('coco/bbox_mAP', 'coco/segm_mAP', 'coco/bbox_mAP_50', 'coco/segm_mAP_50'):
        match = re.search(re.escape(metric) + r': (-?[\d.]+)', out)
        assert match, metric
        assert 0.0 <= float(match.group(1)) <= 1.0
    pictures = sorted(os.listdir(show_dir))
    assert pictures == [f'{i:06d}.png' for i in range(1, shapes_data['val'].num_images + 1)]
    picture = cv2.imread(str(show_dir / pictures[0]))
    source = cv2.imread(osp.join(shapes_data['val'].data_root, 'val', pictures[0]))
    assert picture is not None and picture.shape[0] == source.shape[0]
    assert (tmp_path / 'preds.pkl').is_file()


def test_det_inferencer_with_our_config(trained_det, shapes_data, tmp_path: Path) -> None:
    from mmdet.apis import DetInferencer

    from scalenet_mm.runtime import installed

    image = osp.join(shapes_data['val'].data_root, 'val', '000001.png')
    # A Runner checkpoint (optimizer, message hub) loads in a user's own script once the
    # stack fixes are switched on and the file is trusted explicitly.
    with installed(trusted=[trained_det['checkpoint']]):
        inferencer = DetInferencer(model=str(trained_det['config']),
                                   weights=str(trained_det['checkpoint']), device='cpu',
                                   show_progress=False)
    result = inferencer(image, out_dir=str(tmp_path), return_vis=True, pred_score_thr=0.0,
                        no_save_pred=False)
    pred = result['predictions'][0]
    assert set(('labels', 'scores', 'bboxes', 'masks')) <= set(pred)
    assert len(pred['bboxes']) == len(pred['scores']) == len(pred['masks']) > 0
    assert all(len(box) == 4 for box in pred['bboxes'])
    assert all(mask['size'] == [128, 128] for mask in pred['masks'])  # RLE at image size
    vis = result['visualization'][0]
    assert vis.shape == (128, 128, 3)
    assert (tmp_path / 'vis' / '000001.png').is_file()
    with open(tmp_path / 'preds' / '000001.json') as f:
        assert len(json.load(f)['bboxes']) == len(pred['bboxes'])


def test_dist_train_two_cpu_processes_with_checkpointing(shapes_data, run_tool, unused_port,
                                                         tmp_path: Path) -> None:
    config = write_reduced_det_config(tmp_path / 'det_b2x_dist.py', CONFIG, shapes_data,
                                      max_iters=2)
    work_dir = tmp_path / 'work'
    proc = run_tool(['bash', 'tools/dist_train.sh', config, '2', '--work-dir', work_dir],
                    env=dict(PORT=str(unused_port)), timeout=600)
    out = proc.stdout
    assert 'marked as ready twice' not in out and 'Expected to mark a variable' not in out
    assert (work_dir / 'iter_2.pth').is_file()
    logged = [f for f in os.listdir(work_dir) if re.fullmatch(r'\d{8}_\d{6}', f)]
    log_text = open(work_dir / logged[0] / f'{logged[0]}.log').read()
    assert 'Distributed training: True' in log_text and 'GPU number: 2' in log_text
    # The config it ran: DDP without the unused-parameter search, checkpointed instances.
    wrapper = re.search(r'model_wrapper_cfg = dict\((.*?)\)\n', log_text, re.S).group(1)
    assert "type='MMDistributedDataParallel'" in wrapper
    assert 'find_unused_parameters=False' in wrapper
    assert 'with_cp=True' in log_text
    assert len(re.findall(r'Iter\(train\) \[\s*\d+/2\]', log_text)) == 2


def _mmdet_tool(name: str) -> Path:
    """A tool of mmdet's own (shipped in its wheel under mmdet/.mim/tools)."""
    import mmdet
    return Path(mmdet.__file__).parent / '.mim' / 'tools' / name


def test_mmdet_browse_dataset_on_our_config(trained_det, shapes_data, run_tool,
                                            tmp_path: Path) -> None:
    """mmdet's own browse_dataset.py draws the training pipeline's output of our config."""
    out_dir = tmp_path / 'browse'
    run_tool([_mmdet_tool('analysis_tools/browse_dataset.py'), trained_det['config'],
              '--output-dir', out_dir, '--not-show'], timeout=300)
    drawn = sorted(out_dir.iterdir())
    assert len(drawn) == shapes_data['train'].num_images
    assert cv2.imread(str(drawn[0])) is not None


def test_mmdet_analyze_results_on_our_predictions(trained_det, run_tool, tmp_path: Path) -> None:
    """mmdet's analyze_results.py ranks our model's dumped predictions (tools/test.py --out)
    per image with COCO mAP and draws the best and worst ones."""
    preds = tmp_path / 'preds.pkl'
    run_tool(['tools/test.py', trained_det['config'], trained_det['checkpoint'],
              '--work-dir', tmp_path / 'work', '--trust-checkpoint', trained_det['checkpoint'],
              '--out', preds], timeout=600)
    show_dir = tmp_path / 'ranked'
    run_tool([_mmdet_tool('analysis_tools/analyze_results.py'), trained_det['config'], preds,
              show_dir, '--topk', '1'], timeout=600)
    # The best-ranked image is drawn (mmdet also writes its own timestamped log folder there).
    assert (show_dir / 'good').is_dir()
    drawn = list((show_dir / 'good').iterdir())
    assert len(drawn) == 1 and cv2.imread(str(drawn[0])) is not None
