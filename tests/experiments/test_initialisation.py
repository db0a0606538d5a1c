"""The growth arms start from the pretrained model as their configs say: the stacked
(unshared) checkpoint computes what the shared model computes, the gated model computes what
the pretrained model computes, and every arm carries over the pretrained head."""
import os.path as osp
from typing import Any, Dict, Optional

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

from scalenet_mm.checkpoint import save_atomic
from experiments.scalenet_evidence.experiment import (ARMS_BY_NAME, REPO_ROOT,
                                                      STACKING_SOURCE, Settings, arm_options,
                                                      common_options, init_options)
from experiments.scalenet_evidence.stacking import make_stacked_checkpoint

SETTINGS = Settings(layers=2, embed_dims=16, num_heads=2, feedforward_channels=32, lora_rank=2,
                    seeds=(0,))


def _options(arm: str, checkpoint: Optional[str] = None) -> Dict[str, Any]:
    options = common_options(SETTINGS, 0, '/unused')
    options.update(arm_options(ARMS_BY_NAME[arm], SETTINGS))
    if checkpoint:
        options.update(init_options(checkpoint))
    return options


def _build(arm: str, checkpoint: Optional[str] = None) -> torch.nn.Module:
    from mmpretrain.registry import MODELS

    cfg = Config.fromfile(osp.join(REPO_ROOT, ARMS_BY_NAME[arm].config))
    cfg.merge_from_dict(_options(arm, checkpoint))
    init_default_scope('mmpretrain')
    model = MODELS.build(cfg.model)
    model.init_weights()
    return model.eval()


def _logits(model: torch.nn.Module, images: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model(images, mode='tensor')


@pytest.fixture(scope='module')
def pretrained(tmp_path_factory) -> str:
    """A "pretrained" L-layer classifier checkpoint with random but non-trivial weights."""
    torch.manual_seed(0)
    model = _build('pretrain')
    with torch.no_grad():
        for param in model.parameters():
            param.add_(0.05 * torch.randn_like(param))
    path = tmp_path_factory.mktemp('pretrained') / 'epoch_2.pth'
    save_atomic(dict(state_dict=model.state_dict(), meta=dict()), str(path))
    return str(path)


@pytest.fixture(scope='module')
def images() -> torch.Tensor:
    return torch.randn(4, 1, 28, 28, generator=torch.Generator().manual_seed(1))


def test_stacked_checkpoint_is_the_unshared_copy_of_the_shared_model(pretrained, images,
                                                                     tmp_path):
    options = _options('shared_noadapter', pretrained)
    stacked = make_stacked_checkpoint(osp.join(REPO_ROOT, STACKING_SOURCE.config),
                                      options, str(tmp_path / 'stacked.pth'))
    shared = _build('shared_noadapter', pretrained)
    unshared = _build('stacking', stacked)
    L = SETTINGS.layers
    assert len(unshared.backbone.layers) == 2 * L and len(shared.backbone.layers) == L
    for i in range(L):
        a, b = unshared.backbone.layers[i], unshared.backbone.layers[i + L]
        assert torch.equal(a.attn.qkv.weight, b.attn.qkv.weight)
        assert a.attn.qkv.weight.data_ptr() != b.attn.qkv.weight.data_ptr()  # own tensors
        assert torch.equal(a.attn.qkv.weight, shared.backbone.layers[i].attn.qkv.weight)
    assert torch.allclose(_logits(shared, images), _logits(unshared, images), atol=1e-5)
    assert unshared.backbone.count_parameters()['total'] > \
        shared.backbone.count_parameters()['total']


def test_gated_scalenet_starts_as_the_pretrained_model(pretrained, images):
    base = _build('pretrain', None)
    base.load_state_dict(torch.load(pretrained, weights_only=False)['state_dict'])
    gated = _build('gate', pretrained)
    assert gated.backbone.depth == 2 * SETTINGS.layers
    assert torch.allclose(_logits(base, images), _logits(gated, images), atol=1e-5)


@pytest.mark.parametrize('arm',
                         ['scalenet', 'shared_noadapter', 'interleave', 'gate', 'continue'])
def test_growth_arms_load_the_pretrained_backbone_and_head(arm, pretrained):
    state = torch.load(pretrained, weights_only=False)['state_dict']
    model = _build(arm, pretrained)
    assert torch.equal(model.head.layers.head.weight, state['head.layers.head.weight'])
    assert torch.equal(model.backbone.layers[1].ffn.fc2.weight,
                       state['backbone.layers.1.ffn.layers.1.weight'])
    assert torch.equal(model.backbone.pos_embed, state['backbone.pos_embed'])
