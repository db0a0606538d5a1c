"""Every classification config loads, builds its model and trains one step.

Sizes are reduced the way a user would override them on the command line (an arch dict
with small dims, 32x32 inputs, ``init_cfg=None`` so nothing is downloaded); everything else
(optimizer constructor, batch augments, loss, data preprocessor) is the config's own. The
full-size parameter counts are checked against the table in ``configs/cls/README.md`` and
``configs/cls/metafile.yml`` on the meta device (no memory is allocated).
"""
import copy
import glob
import os.path as osp
from typing import Dict, List

import pytest
import torch
import yaml
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper

import scalenet_mm  # noqa: F401  (registers ScaleNetViT)
from cls_helpers import load, mmpretrain_models, readme_params  # noqa: E402

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CLS_DIR = osp.join(REPO, 'configs', 'cls')

def _vit(paths: List[str]) -> List[str]:
    """The ViT configs (the Swin ones are tested in tests/cls/test_swin_configs.py)."""
    return [p for p in paths if 'swin' not in osp.basename(p)]


CONFIGS = _vit(sorted(glob.glob(osp.join(CLS_DIR, '**', '*.py'), recursive=True)))
IN1K_CONFIGS = _vit(sorted(glob.glob(osp.join(CLS_DIR, '*_in1k.py'))))
SMALL_ARCH = dict(embed_dims=32, num_layers=2, num_heads=2, feedforward_channels=64)




def _name(path: str) -> str:
    return osp.relpath(path, CLS_DIR)


def reduced_model_cfg(cfg: Config) -> Dict:
    """The config's model with a tiny arch, 32x32 input and no pretrained loading."""
    model = copy.deepcopy(cfg.model.to_dict())
    backbone = model['backbone']
    backbone.update(arch=dict(SMALL_ARCH), img_size=32, patch_size=8, init_cfg=None)
    model['head']['in_channels'] = SMALL_ARCH['embed_dims']
    model['head'].pop('init_cfg', None)
    model['data_preprocessor'] = dict(cfg.get('data_preprocessor', {}))
    return model


def test_config_folder_is_found() -> None:
    assert len(CONFIGS) >= 11, CONFIGS  # 8 ImageNet + 3 Fashion-MNIST configs


@pytest.mark.parametrize('path', CONFIGS, ids=_name)
def test_config_declares_what_the_tools_need(path: str) -> None:
    """custom_imports, an lr-scaling base batch and a datasets the preflight can check."""
    cfg = load(path)
    assert cfg.custom_imports == dict(imports=['scalenet_mm'], allow_failed_imports=False)
    assert cfg.default_scope == 'mmpretrain'
    assert cfg.auto_scale_lr.base_batch_size > 0
    assert cfg.train_cfg.max_epochs > 0
    assert cfg.optim_wrapper.optimizer.type == 'AdamW'
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        assert cfg[key].dataset.data_root


@pytest.mark.parametrize('path', IN1K_CONFIGS, ids=_name)
def test_in1k_config_follows_the_deit_recipe(path: str) -> None:
    """Total batch 1024 = 8 x 128 at lr 1e-3 (5e-4 * 1024 / 512), the paper's epochs."""
    cfg = load(path)
    assert cfg.train_dataloader.batch_size * 8 == cfg.auto_scale_lr.base_batch_size == 1024
    assert cfg.optim_wrapper.optimizer.lr == pytest.approx(5e-4 * 1024 / 512)
    assert cfg.optim_wrapper.optimizer.weight_decay == 0.05
    assert cfg.optim_wrapper.clip_grad.max_norm == 5.0
    assert [a['type'] for a in cfg.model.train_cfg.augments] == ['Mixup', 'CutMix']
    assert cfg.model.head.loss.label_smooth_val == 0.1
    pipeline = [t['type'] for t in cfg.train_dataloader.dataset.pipeline]
    assert 'RandAugment' in pipeline and 'RandomErasing' in pipeline
    backbone = cfg.model.backbone
    if backbone.type == 'ScaleNetViT':
        assert cfg.train_cfg.max_epochs == 100
        assert backbone.init_cfg.checkpoint.startswith('https://dl.fbaipublicfiles.com/deit/')
    else:
        assert cfg.train_cfg.max_epochs == 300
        assert backbone.arch.num_layers == 24
    assert '8xb128' in open(path, encoding='utf-8').read()


@pytest.mark.parametrize('path', CONFIGS, ids=_name)
def test_reduced_model_trains(path: str) -> None:
    """An optimizer step through the config's own optim wrapper (constructor, clipping,
    batch augments, loss), then a backward pass that reaches the shared layers and every
    adapter (the head is zero-initialised, so gradients reach the backbone from step 2)."""
    from mmpretrain.structures import DataSample
    torch.manual_seed(0)
    cfg = load(path)
    model = mmpretrain_models().build(reduced_model_cfg(cfg))
    model.init_weights()
    model.train()
    optim_wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    channels = model.backbone.patch_embed.projection.in_channels
    num_classes = cfg.model.head.num_classes
    data = dict(
        inputs=[torch.randint(0, 256, (channels, 32, 32), dtype=torch.uint8) for _ in range(4)],
        data_samples=[DataSample().set_gt_label(i % num_classes) for i in range(4)])
    head_before = model.head.layers.head.weight.detach().clone()
    losses = model.train_step(data, optim_wrapper)
    assert torch.isfinite(losses['loss'])
    assert not torch.equal(model.head.layers.head.weight, head_before)

    optim_wrapper.zero_grad()
    batch = model.data_preprocessor(data, True)
    loss = sum(model(**batch, mode='loss').values())
    loss.backward()
    grads = {n: p.grad for n, p in model.named_parameters()}
    for name in ('backbone.layers.0.attn.qkv.weight', 'backbone.layers.1.ffn.layers.1.weight',
                 'backbone.patch_embed.projection.weight'):
        assert grads[name] is not None and grads[name].abs().sum() > 0, name
    lora_b = [n for n in grads if n.endswith('lora_B')]
    if cfg.model.backbone.get('adapter'):
        assert len(lora_b) == 4 * model.backbone.depth
        assert all(grads[n] is not None and grads[n].abs().sum() > 0 for n in lora_b)
    else:
        assert not lora_b


@pytest.mark.parametrize('path', [p for p in IN1K_CONFIGS if osp.basename(p).startswith('scalenet')], ids=_name)
def test_scalenet_configs_share_the_pretrained_layers(path: str) -> None:
    cfg = load(path)
    model_cfg = reduced_model_cfg(cfg)
    backbone = mmpretrain_models().build(model_cfg).backbone
    factor = cfg.model.backbone.depth
    assert backbone.num_source_layers == 2
    assert backbone.depth == int(2 * factor)
    assert backbone.layer_map == [i % 2 for i in range(int(2 * factor))]


def test_layer_decay_variant_uses_get_layer_depth() -> None:
    """The lr of a shared tensor follows its first use, that of an instance its depth."""
    cfg = load(osp.join(CLS_DIR, 'scalenet_s2x_lrd_in1k.py'))
    model = mmpretrain_models().build(reduced_model_cfg(cfg))
    optim_wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    lr_of = {g['param_name']: g['lr'] for g in optim_wrapper.optimizer.param_groups}
    rate = cfg.optim_wrapper.paramwise_cfg.layer_decay_rate
    base_lr = cfg.optim_wrapper.optimizer.lr
    # 2 source layers, 4 instances: depths 0 (embeddings) .. 5 (head); lr = base * rate^(5-d)
    assert lr_of['head.layers.head.weight'] == pytest.approx(base_lr)
    assert lr_of['backbone.layers.1.attn.qkv.weight'] == pytest.approx(base_lr * rate ** 3)
    assert lr_of['backbone.instances.3.lora.qkv.lora_B'] == pytest.approx(base_lr * rate)
    assert lr_of['backbone.pos_embed'] == pytest.approx(base_lr * rate ** 5)


def full_size_params(path: str) -> int:
    """Unique parameters of the config's full-size model (built on the meta device)."""
    cfg = load(path)
    with torch.device('meta'):
        model = mmpretrain_models().build(cfg.model.to_dict())
    return sum(p.numel() for p in model.parameters())


def test_readme_and_metafile_list_every_imagenet_config_with_measured_params() -> None:
    readme = readme_params(osp.join(CLS_DIR, 'README.md'))
    with open(osp.join(CLS_DIR, 'metafile.yml'), encoding='utf-8') as f:
        meta = yaml.safe_load(f)
    models: List[Dict] = meta['Models']
    by_config = {osp.basename(m['Config']): m for m in models}
    for path in IN1K_CONFIGS:
        name = osp.basename(path)
        measured = full_size_params(path)
        assert name in readme, f'{name} missing from configs/cls/README.md'
        assert readme[name] == f'{measured / 1e6:.2f}M', name
        assert name in by_config, f'{name} missing from configs/cls/metafile.yml'
        entry = by_config[name]
        assert entry['Metadata']['Parameters'] == measured, name
        assert entry['Metadata']['Training Data'] == 'ImageNet-1k'
        assert entry['Weights'] is None
        assert osp.isfile(osp.join(REPO, entry['Config']))


def test_deit_tiny_2x_has_the_papers_parameter_count() -> None:
    """DeiT-Tiny 2x with rank-10 LoRA on all four linears: 6.45 M (the paper's figure)."""
    assert round(full_size_params(osp.join(CLS_DIR, 'scalenet_t2x_in1k.py')) / 1e6, 2) == 6.45
