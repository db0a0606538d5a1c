"""mmcv was installed WITH its compiled ops (Mask R-CNN needs nms and RoIAlign): import them
and run them on CPU tensors, with known answers."""
import pytest
import torch

FIX = ('mmcv must be built with its compiled ops (mmcv-lite and a plain `pip install mmcv` '
       'have none). Fix: bash tools/setup_env.sh --rebuild-mmcv')


def _ops():
    try:
        from mmcv.ops import RoIAlign, batched_nms, nms
    except (ImportError, OSError) as err:  # e.g. No module named 'mmcv._ext'
        pytest.fail(f'`from mmcv.ops import nms, RoIAlign` failed: {err}. {FIX}')
    return nms, batched_nms, RoIAlign


def test_nms_suppresses_overlapping_box() -> None:
    nms, batched_nms, _ = _ops()
    boxes = torch.tensor([[0., 0., 10., 10.], [1., 1., 10., 10.], [20., 20., 30., 30.]])
    scores = torch.tensor([0.9, 0.8, 0.7])
    dets, keep = nms(boxes, scores, iou_threshold=0.5)
    assert keep.tolist() == [0, 2], FIX
    assert dets.shape == (2, 5)
    # The same two boxes in different classes are not suppressed by each other.
    _, keep = batched_nms(boxes[:2], scores[:2], torch.tensor([0, 1]),
                          dict(type='nms', iou_threshold=0.5))
    assert sorted(keep.tolist()) == [0, 1]


def test_roi_align_averages_the_region() -> None:
    _, _, RoIAlign = _ops()
    feat = torch.arange(64, dtype=torch.float32).reshape(1, 1, 8, 8)
    rois = torch.tensor([[0., 0., 0., 8., 8.]])  # the whole map, one 1x1 bin
    out = RoIAlign((1, 1), spatial_scale=1.0, sampling_ratio=4, aligned=True)(feat, rois)
    assert out.shape == (1, 1, 1, 1)
    assert out.item() == pytest.approx(feat.mean().item(), abs=1e-4), FIX
