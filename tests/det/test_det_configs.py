"""Every detection config builds a working Mask R-CNN (reduced to CPU size through a child
config): training forward/backward gives finite losses and a gradient for every trainable
tensor (so DDP runs with find_unused_parameters=False), and inference returns boxes and masks
at the original image size, also for sizes that are not a multiple of the attention window."""
from pathlib import Path

import pytest
import torch
from mmdet.structures import DetDataSample
from mmdet.testing import demo_mm_inputs
from mmengine.config import Config

import scalenet_mm  # noqa: F401
from scalenet_mm.engine import LayerDecayOptimWrapperConstructor
from scalenet_mm.models import ScaleNetViT, SimpleFeaturePyramid

from det_helpers import (ALL_DET_CONFIGS, DET_CONFIGS, assert_one_training_step,
                      write_reduced_det_config)

#: tested in tests/det/test_swin_det.py
SWIN_DET_CONFIGS = ('mask_rcnn_scalenet_swin_t2x.py', 'mask_rcnn_swin_t.py')
VIT_DET_CONFIGS = [name for name in ALL_DET_CONFIGS if name not in SWIN_DET_CONFIGS]

EXPECTED = {
    'mask_rcnn_scalenet_b2x.py': dict(arch='deit-base', depth=24, dims=768, lora=True),
    'mask_rcnn_scalenet_s2x.py': dict(arch='deit-small', depth=24, dims=384, lora=True),
    'mask_rcnn_deit_b.py': dict(arch='deit-base', depth=12, dims=768, lora=False),
}


def build_detector(cfg: Config) -> torch.nn.Module:
    from mmdet.registry import MODELS  # built in mmdet's scope (tests/det/conftest.py)
    model = MODELS.build(cfg.model)
    model.init_weights()
    return model


def test_every_config_is_covered() -> None:
    """Every det config is either a ViT one (here) or a Swin one (tests/det/test_swin_det.py)."""
    assert sorted(EXPECTED) + sorted(SWIN_DET_CONFIGS) == sorted(ALL_DET_CONFIGS)


@pytest.mark.parametrize('name', VIT_DET_CONFIGS)
def test_full_config_recipe(name: str) -> None:
    """The full-size configs state the documented recipe (not built: they are ViT-B size)."""
    cfg = Config.fromfile(str(DET_CONFIGS / name))
    want = EXPECTED[name]
    backbone = cfg.model.backbone
    assert backbone.type == 'ScaleNetViT'
    assert (backbone.arch, backbone.depth) == (want['arch'], want['depth'])
    assert backbone.with_cls_token is False and backbone.out_type == 'featmap'
    assert backbone.window_size == 14 and backbone.use_rel_pos and backbone.with_cp
    assert len(backbone.global_attn_indexes) == 4
    assert backbone.global_attn_indexes[-1] == want['depth'] - 1
    assert (backbone.get('adapter') is not None) == want['lora']
    assert backbone.init_cfg.type == 'Pretrained'
    assert backbone.init_cfg.checkpoint.startswith('https://dl.fbaipublicfiles.com/deit/')
    assert cfg.model.neck.type == 'SimpleFeaturePyramid'
    assert cfg.model.neck.in_channels == want['dims']
    assert cfg.custom_imports == dict(imports=['scalenet_mm'], allow_failed_imports=False)
    assert cfg.optim_wrapper.type == 'AmpOptimWrapper'
    assert cfg.optim_wrapper.constructor == 'LayerDecayOptimWrapperConstructor'
    assert cfg.optim_wrapper.optimizer.type == 'AdamW'
    assert 0.6 <= cfg.optim_wrapper.paramwise_cfg.layer_decay_rate <= 0.9
    assert cfg.train_dataloader.batch_size == 2
    assert cfg.auto_scale_lr == dict(enable=False, base_batch_size=16)
    assert cfg.find_unused_parameters is False
    assert cfg.train_pipeline[2].type == 'RandomResize'
    assert cfg.train_pipeline[2].scale == (1024, 1024)
    assert cfg.model.data_preprocessor.batch_augments[0].size == (1024, 1024)
    assert [s.type for s in cfg.param_scheduler] == ['LinearLR', 'MultiStepLR']


@pytest.mark.parametrize('name', VIT_DET_CONFIGS)
def test_reduced_config_trains_and_infers(name: str, tmp_path: Path, shapes_data) -> None:
    cfg = Config.fromfile(str(write_reduced_det_config(tmp_path / name, name, shapes_data)))
    torch.manual_seed(0)
    model = build_detector(cfg)
    assert isinstance(model.backbone, ScaleNetViT) and model.backbone.with_cp
    assert isinstance(model.neck, SimpleFeaturePyramid)
    assert model.backbone.depth == 4
    assert [i.window_size for i in model.backbone.instances] == [4, 0, 4, 0]

    data = assert_one_training_step(model)
    # The rel-pos tables of every instance are among the tensors that got a gradient.
    rel_pos = [n for n, _ in model.named_parameters() if 'rel_pos' in n]
    assert len(rel_pos) == 2 * 4

    # The config's own optimizer constructor accepts the model (CPU wrapper type).
    optim_cfg = cfg.optim_wrapper.to_dict()
    paramwise = optim_cfg.pop('paramwise_cfg')
    optim_cfg.pop('constructor')
    wrapper = LayerDecayOptimWrapperConstructor(optim_cfg, paramwise)(model)
    wrapper.update_params(model.parse_losses(model(**data, mode='loss'))[0])

    model.eval()
    # 100x150: the padded batch is 128x160, an 8x10 token grid; 10 is not a multiple of the
    # window (4), so the windowed instances pad internally.
    packed = demo_mm_inputs(1, image_shapes=[(3, 100, 150)], num_items=[1], num_classes=3,
                            with_mask=True)
    with torch.no_grad():
        data = model.data_preprocessor(packed, False)
        assert tuple(data['inputs'].shape[-2:]) == (128, 160)
        results = model(**data, mode='predict')
    assert len(results) == 1 and isinstance(results[0], DetDataSample)
    pred = results[0].pred_instances
    assert pred.bboxes.shape[1] == 4 and len(pred.scores) == len(pred.bboxes)
    assert pred.masks.shape[1:] == (100, 150)
    assert len(pred.labels) == 0 or int(pred.labels.max()) < 3


def test_metafile_lists_every_config_without_weights() -> None:
    from modelindex.load_model_index import load

    index = load(str(DET_CONFIGS / 'metafile.yml'))
    index.build_models_with_collections()
    configs = sorted(Path(model.config).name for model in index.models)
    assert configs == ALL_DET_CONFIGS
    for model in index.models:
        assert model.weights is None and not model.results
        assert model.metadata.data['Batch Size'] == '8xb2'
        assert model.metadata.training_data == 'COCO'
        assert (Path(__file__).resolve().parents[2] / model.config).is_file()
