"""The Swin Mask R-CNN configs (ScaleNet Swin-T 2x and mmdet's plain Swin-T baseline) inherit
mmdet's own Swin-T config, build a working detector at reduced size (training forward/backward
with a gradient for every trainable tensor, inference at the original image size) and are
listed in the metafile with their measured full-size parameter counts."""
from unittest import mock

import pytest
import torch
import yaml
from mmdet.structures import DetDataSample
from mmdet.testing import demo_mm_inputs
from mmengine.config import Config, ConfigDict
from mmengine.utils import get_installed_path

import scalenet_mm  # noqa: F401
from scalenet_mm.models.backbones import ScaleNetSwin

from conftest import DET_CONFIGS, assert_one_training_step

SWIN_DET_CONFIGS = ['mask_rcnn_scalenet_swin_t2x.py', 'mask_rcnn_swin_t.py']
MMDET_BASE = (f'{get_installed_path("mmdet")}/.mim/configs/swin/'
              'mask-rcnn_swin-t-p4-w7_fpn_1x_coco.py')


def _load(name: str) -> Config:
    return Config.fromfile(str(DET_CONFIGS / name))


def _reduce(cfg: Config) -> ConfigDict:
    """Swin widths 16..128, 2 blocks per stage, window 4, nothing downloaded, 64-ch FPN."""
    model = cfg.model.to_dict()
    backbone = model['backbone']
    small = dict(window_size=4, drop_path_rate=0.1, init_cfg=None)
    if backbone['type'] == 'ScaleNetSwin':
        backbone.update(arch=dict(embed_dims=16, depths=[2, 2, 2, 2], num_heads=[1, 2, 2, 4]),
                        **small)
    else:
        backbone.update(embed_dims=16, depths=[2, 2, 2, 2], num_heads=[1, 2, 2, 4],
                        convert_weights=False, **small)
    model['neck'].update(in_channels=[16, 32, 64, 128], out_channels=64)
    model['rpn_head'].update(in_channels=64, feat_channels=64)
    roi = model['roi_head']
    roi['bbox_roi_extractor']['out_channels'] = 64
    roi['bbox_head'].update(in_channels=64, fc_out_channels=64, num_classes=3)
    roi['mask_roi_extractor']['out_channels'] = 64
    roi['mask_head'].update(in_channels=64, conv_out_channels=64, num_classes=3)
    return ConfigDict(model)


def _plain(value):
    """A config value without the ``_scope_`` keys mmengine adds to an ``mmdet::`` base."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items() if k != '_scope_'}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def test_configs_inherit_mmdets_swin_t_mask_rcnn() -> None:
    base = Config.fromfile(MMDET_BASE)
    for name in SWIN_DET_CONFIGS:
        cfg = _load(name)
        assert cfg.custom_imports == dict(imports=['scalenet_mm'], allow_failed_imports=False)
        assert cfg.model.neck.in_channels == [96, 192, 384, 768]
        for key in ('optim_wrapper', 'param_scheduler', 'train_cfg', 'train_dataloader'):
            assert _plain(cfg[key]) == _plain(base[key]), key
    scalenet = _load('mask_rcnn_scalenet_swin_t2x.py').model.backbone
    assert scalenet.type == 'ScaleNetSwin' and (scalenet.arch, scalenet.depth) == ('tiny', 2.0)
    assert scalenet.out_indices == (0, 1, 2, 3) and scalenet.pad_small_map
    assert scalenet.init_cfg.checkpoint == base.model.backbone.init_cfg.checkpoint
    assert _plain(_load('mask_rcnn_swin_t.py').model) == _plain(base.model)


@pytest.mark.parametrize('name', SWIN_DET_CONFIGS)
def test_reduced_config_trains_and_infers(name: str) -> None:
    from mmdet.registry import MODELS
    torch.manual_seed(0)
    model = MODELS.build(_reduce(_load(name)))
    model.init_weights()
    if name == 'mask_rcnn_scalenet_swin_t2x.py':
        assert isinstance(model.backbone, ScaleNetSwin) and model.backbone.depths == [4, 4, 4, 4]
    assert_one_training_step(model)

    model.eval()  # 100x150: padded to 128x160 (32 divisor); stage maps 25x38 .. 4x5 vs window 4
    packed = demo_mm_inputs(1, image_shapes=[(3, 100, 150)], num_items=[1], num_classes=3,
                            with_mask=True)
    with torch.no_grad():
        results = model(**model.data_preprocessor(packed, False), mode='predict')
    assert len(results) == 1 and isinstance(results[0], DetDataSample)
    pred = results[0].pred_instances
    assert pred.bboxes.shape[1] == 4 and pred.masks.shape[1:] == (100, 150)


def _full_size_params(name: str) -> int:
    from mmdet.registry import MODELS
    cfg = _load(name)
    cfg.model.backbone.init_cfg = None
    linspace = torch.linspace  # mmdet's Swin calls linspace(...).item(): CPU, not meta
    with torch.device('meta'), mock.patch.object(
            torch, 'linspace', lambda *a, **k: linspace(*a, **dict(k, device='cpu'))):
        model = MODELS.build(cfg.model)
    return sum(p.numel() for p in model.parameters())


def test_metafile_lists_the_swin_configs_with_measured_params() -> None:
    with open(DET_CONFIGS / 'metafile.yml', encoding='utf-8') as f:
        by_config = {m['Config'].split('/')[-1]: m for m in yaml.safe_load(f)['Models']}
    for name in SWIN_DET_CONFIGS:
        entry = by_config[name]
        assert entry['Metadata']['Parameters'] == _full_size_params(name), name
        assert entry['Metadata']['Batch Size'] == '8xb2'
        assert entry['Weights'] is None and entry['Results'] is None
