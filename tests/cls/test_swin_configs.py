"""Every Swin classification config (ScaleNet Swin and its from-scratch baselines) loads, states
the Swin recipe, builds its model at reduced size and trains one step through its own optim
wrapper; the full-size parameter counts equal the README table and the metafile (measured on
the meta device, no memory allocated)."""
import copy
import glob
import os.path as osp
from typing import Dict
from unittest import mock

import pytest
import torch
import yaml
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper

import scalenet_mm  # noqa: F401  (registers ScaleNetSwin)
from cls_helpers import load, mmpretrain_models, readme_params  # noqa: E402

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CLS_DIR = osp.join(REPO, 'configs', 'cls')
SWIN_CONFIGS = sorted(glob.glob(osp.join(CLS_DIR, 'scalenet_swin_*_in1k.py'))
                      + glob.glob(osp.join(CLS_DIR, 'swin_*_scratch_in1k.py')))
SMALL_ARCH = dict(embed_dims=16, depths=[2, 2, 2, 2], num_heads=[1, 2, 2, 4])
GEOMETRY = dict(img_size=64, patch_size=2, window_size=4)



def _name(path: str) -> str:
    return osp.basename(path)


def reduced_model_cfg(cfg: Config) -> Dict:
    """The config's model with Swin widths 16..128, 2 source blocks per stage (4 for a
    scratch baseline, which holds the 2x depths itself), 64 px input, nothing downloaded."""
    model = copy.deepcopy(cfg.model.to_dict())
    backbone = model['backbone']
    depths = [2, 2, 2, 2] if backbone['type'] == 'ScaleNetSwin' else [4, 4, 4, 4]
    # drop path off: at Swin-B's 0.5 a 4-image batch can drop an instance for every image,
    # and the test asserts that every LoRA tensor receives a gradient
    backbone.update(arch=dict(SMALL_ARCH, depths=depths), **GEOMETRY, init_cfg=None,
                    drop_path_rate=0.)
    model['head']['in_channels'] = 128
    model['data_preprocessor'] = dict(cfg.get('data_preprocessor', {}))
    return model


def test_the_six_swin_configs_exist() -> None:
    assert [_name(p) for p in SWIN_CONFIGS] == [
        'scalenet_swin_b2x_in1k.py', 'scalenet_swin_s2x_in1k.py', 'scalenet_swin_t2x_in1k.py',
        'swin_b2x_scratch_in1k.py', 'swin_s2x_scratch_in1k.py', 'swin_t2x_scratch_in1k.py']


@pytest.mark.parametrize('path', SWIN_CONFIGS, ids=_name)
def test_config_states_the_swin_recipe(path: str) -> None:
    cfg = load(path)
    assert cfg.custom_imports == dict(imports=['scalenet_mm'], allow_failed_imports=False)
    assert cfg.default_scope == 'mmpretrain'
    assert cfg.train_dataloader.batch_size * 8 == cfg.auto_scale_lr.base_batch_size == 1024
    assert cfg.optim_wrapper.optimizer.type == 'AdamW'
    assert cfg.optim_wrapper.optimizer.lr == pytest.approx(5e-4 * 1024 / 512)
    assert cfg.optim_wrapper.optimizer.weight_decay == 0.05
    assert cfg.optim_wrapper.clip_grad.max_norm == 5.0
    assert '.relative_position_bias_table' in cfg.optim_wrapper.paramwise_cfg.custom_keys
    assert [a['type'] for a in cfg.model.train_cfg.augments] == ['Mixup', 'CutMix']
    assert cfg.model.head.loss.label_smooth_val == 0.1
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        assert cfg[key].dataset.data_root
    backbone = cfg.model.backbone
    warmup, cosine = cfg.param_scheduler
    assert warmup.end == cosine.begin
    if backbone.type == 'ScaleNetSwin':
        assert cfg.train_cfg.max_epochs == 100 and warmup.end == 7  # a third of 300 / 20
        assert backbone.depth == 2.0 and backbone.layer_map == 'cyclic'
        assert backbone.init_cfg.checkpoint.startswith(
            'https://github.com/SwinTransformer/storage/releases/download/v1.0.0/swin_')
    else:
        assert backbone.type == 'SwinTransformer' and 'init_cfg' not in backbone
        assert cfg.train_cfg.max_epochs == 300 and warmup.end == 20
        assert backbone.arch.depths[2] in (12, 36)
    assert '8xb128' in open(path, encoding='utf-8').read()


@pytest.mark.parametrize('path', SWIN_CONFIGS, ids=_name)
def test_reduced_model_trains(path: str) -> None:
    """One optimizer step through the config's own wrapper, then a backward pass that
    reaches the shared blocks, the patch merging and (ScaleNet) every LoRA B."""
    from mmpretrain.structures import DataSample
    torch.manual_seed(0)
    cfg = load(path)
    model = mmpretrain_models().build(reduced_model_cfg(cfg))
    model.init_weights()
    model.train()
    optim_wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    data = dict(inputs=[torch.randint(0, 256, (3, 64, 64), dtype=torch.uint8) for _ in range(4)],
                data_samples=[DataSample().set_gt_label(i % 1000) for i in range(4)])
    head_before = model.head.fc.weight.detach().clone()
    losses = model.train_step(data, optim_wrapper)
    assert torch.isfinite(losses['loss'])
    assert not torch.equal(model.head.fc.weight, head_before)

    optim_wrapper.zero_grad()
    batch = model.data_preprocessor(data, True)
    sum(model(**batch, mode='loss').values()).backward()
    grads = {n: p.grad for n, p in model.named_parameters()}
    for name in ('backbone.stages.0.blocks.1.attn.w_msa.qkv.weight',
                 'backbone.stages.3.blocks.0.ffn.layers.1.weight',
                 'backbone.stages.1.downsample.reduction.weight',
                 'backbone.patch_embed.projection.weight'):
        assert grads[name] is not None and grads[name].abs().sum() > 0, name
    lora_b = [n for n in grads if n.endswith('lora_B')]
    if cfg.model.backbone.type == 'ScaleNetSwin':
        assert model.backbone.depths == [4, 4, 4, 4]
        assert len(lora_b) == 4 * 16
        assert all(grads[n] is not None and grads[n].abs().sum() > 0 for n in lora_b)
    else:
        assert not lora_b


def full_size_params(path: str) -> int:
    """Unique parameters of the config's full-size model (built on the meta device; the
    drop-path rates of mmpretrain's Swin, ``torch.linspace(...).item()``, on the CPU)."""
    cfg = load(path)
    cfg.model.backbone.pop('init_cfg', None)
    linspace = torch.linspace
    with torch.device('meta'), mock.patch.object(
            torch, 'linspace', lambda *a, **k: linspace(*a, **dict(k, device='cpu'))):
        model = mmpretrain_models().build(cfg.model.to_dict())
    return sum(p.numel() for p in model.parameters())


def test_readme_and_metafile_list_every_swin_config_with_measured_params() -> None:
    readme = readme_params(osp.join(CLS_DIR, 'README.md'))
    with open(osp.join(CLS_DIR, 'metafile.yml'), encoding='utf-8') as f:
        by_config = {osp.basename(m['Config']): m for m in yaml.safe_load(f)['Models']}
    for path in SWIN_CONFIGS:
        name = osp.basename(path)
        measured = full_size_params(path)
        assert readme.get(name) == f'{measured / 1e6:.2f}M', name
        entry = by_config[name]
        assert entry['Metadata']['Parameters'] == measured, name
        assert entry['Weights'] is None and osp.isfile(osp.join(REPO, entry['Config']))


def test_scalenet_swin_t2x_stores_about_half_the_plain_2x_parameters() -> None:
    ours = full_size_params(osp.join(CLS_DIR, 'scalenet_swin_t2x_in1k.py'))
    plain = full_size_params(osp.join(CLS_DIR, 'swin_t2x_scratch_in1k.py'))
    assert 0.5 < ours / plain < 0.6
