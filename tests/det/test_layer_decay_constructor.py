"""The layer-decay optimizer-wrapper constructor on a real ScaleNet Mask R-CNN and on
mmpretrain's ViT: every trainable tensor in exactly one group, shared tensors at the depth of
their first use, lr scales rate ** (num_layers - 1 - depth), neck and heads at scale 1, no
weight decay on norms / biases / position embeddings / gates / rel-pos tables."""
from typing import Dict, Tuple

import pytest
import torch
import torch.nn as nn
from mmdet.registry import OPTIM_WRAPPER_CONSTRUCTORS as DET_CONSTRUCTORS
from mmengine.optim import build_optim_wrapper
from mmpretrain.models import VisionTransformer
from mmpretrain.registry import OPTIM_WRAPPER_CONSTRUCTORS as PRETRAIN_CONSTRUCTORS

import scalenet_mm  # noqa: F401
from scalenet_mm.engine import LayerDecayOptimWrapperConstructor
from scalenet_mm.models import ScaleNetViT

RATE = 0.7
LR = 1e-3
WD = 0.05
OPTIM = dict(type='OptimWrapper', optimizer=dict(type='AdamW', lr=LR, weight_decay=WD))
ARCH = dict(embed_dims=32, num_layers=2, num_heads=2, feedforward_channels=64)


def small_backbone(**kwargs) -> ScaleNetViT:
    args = dict(arch=ARCH, depth=4, img_size=64, patch_size=16, out_type='featmap',
                with_cls_token=False, final_norm=False, window_size=2,
                global_attn_indexes=(1, 3), use_rel_pos=True, gate_inserted=True,
                per_instance_norm=True)
    args.update(kwargs)
    return ScaleNetViT(**args)


class Detectorish(nn.Module):
    """A backbone plus a conv 'neck' and a linear 'head' with its own LayerNorm."""

    def __init__(self, backbone: nn.Module) -> None:
        super().__init__()
        self.backbone = backbone
        self.neck = nn.Conv2d(32, 8, 1)
        self.head = nn.Sequential(nn.LayerNorm(8), nn.Linear(8, 3))


def build(model: nn.Module, **paramwise) -> torch.optim.Optimizer:
    paramwise.setdefault('layer_decay_rate', RATE)
    return LayerDecayOptimWrapperConstructor(dict(OPTIM), paramwise)(model).optimizer


def by_name(optimizer: torch.optim.Optimizer) -> Dict[str, Tuple[float, float, int]]:
    """``name -> (lr, weight_decay, layer_id)``; fails on a tensor listed twice."""
    table: Dict[str, Tuple[float, float, int]] = {}
    seen = set()
    for group in optimizer.param_groups:
        assert len(group['params']) == len(group['param_names'])
        for name, param in zip(group['param_names'], group['params']):
            assert id(param) not in seen, f'{name} is in two groups'
            seen.add(id(param))
            table[name] = (group['lr'], group['weight_decay'], group['layer_id'])
    return table


def test_registered_in_both_registries() -> None:
    assert DET_CONSTRUCTORS.get('LayerDecayOptimWrapperConstructor') is \
        LayerDecayOptimWrapperConstructor
    assert PRETRAIN_CONSTRUCTORS.get('LayerDecayOptimWrapperConstructor') is \
        LayerDecayOptimWrapperConstructor


def test_groups_depths_and_decay_on_scalenet() -> None:
    model = Detectorish(small_backbone())
    model.backbone.patch_embed.projection.bias.requires_grad = False  # frozen: left out
    table = by_name(build(model))
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert set(table) == trainable
    num_layers = model.backbone.depth + 2  # 6

    def lr_at(depth: int) -> float:
        return LR * RATE**(num_layers - 1 - depth)

    # cyclic map [0, 1, 0, 1]: shared layer j is first used by instance j (depth j + 1).
    for name, (lr, _, depth) in table.items():
        if name.startswith('backbone.layers.'):
            assert depth == int(name.split('.')[2]) + 1, name
        elif name.startswith('backbone.instances.'):
            assert depth == int(name.split('.')[2]) + 1, name
        elif name.startswith('backbone.'):
            assert depth == 0, name
        else:
            assert depth == num_layers - 1 and lr == pytest.approx(LR), name
        assert lr == pytest.approx(lr_at(depth)), name
    assert table['backbone.layers.1.attn.qkv.weight'][0] == pytest.approx(LR * RATE**3)
    assert table['backbone.instances.3.lora.qkv.lora_A'][0] == pytest.approx(LR * RATE)
    assert table['backbone.pos_embed'][0] == pytest.approx(LR * RATE**5)

    no_decay = {
        'backbone.pos_embed', 'backbone.layers.0.ln1.weight', 'backbone.layers.0.ln1.bias',
        'backbone.layers.0.attn.qkv.bias', 'backbone.instances.2.gate1',
        'backbone.instances.2.gate2', 'backbone.instances.0.rel_pos_h',
        'backbone.instances.1.rel_pos_w', 'backbone.instances.3.ln2.weight', 'neck.bias',
        'head.0.weight', 'head.1.bias'}
    decay = {'backbone.layers.0.attn.qkv.weight', 'backbone.layers.1.ffn.layers.1.weight',
             'backbone.instances.0.lora.fc1.lora_B', 'backbone.patch_embed.projection.weight',
             'neck.weight', 'head.1.weight'}
    for name in no_decay:
        assert table[name][1] == 0.0, name
    for name in decay:
        assert table[name][1] == WD, name
    # Grouped by (depth, decay): a handful of groups, not one per tensor.
    assert len(build(model).param_groups) <= 2 * num_layers


def test_cls_token_and_gates_without_decay_and_full_depth_range() -> None:
    backbone = small_backbone(with_cls_token=True, out_type='cls_token', window_size=0,
                              global_attn_indexes=(), use_rel_pos=False, final_norm=True)
    table = by_name(build(backbone))  # a bare backbone provides get_layer_depth itself
    assert table['cls_token'][1] == 0.0 and table['cls_token'][2] == 0
    assert table['instances.3.gate1'][1] == 0.0
    assert max(depth for _, _, depth in table.values()) == backbone.depth + 1  # final norm


def test_tensor_reachable_twice_is_added_once() -> None:
    model = Detectorish(small_backbone())
    model.head_alias = model.head  # the same module under two names
    table = by_name(build(model))
    assert 'head.1.weight' in table and 'head_alias.1.weight' not in table


def test_mmpretrain_vit_backbone_matches_its_own_constructor_scales() -> None:
    """On mmpretrain's VisionTransformer our lr scales equal mmpretrain's constructor's."""
    model = Detectorish(VisionTransformer(arch=ARCH, img_size=64, patch_size=16,
                                          out_type='featmap', with_cls_token=True))
    ours = by_name(build(model))
    from mmpretrain.engine.optimizers import LearningRateDecayOptimWrapperConstructor
    theirs = LearningRateDecayOptimWrapperConstructor(dict(OPTIM),
                                                      dict(layer_decay_rate=RATE))

    model.get_layer_depth = lambda name: model.backbone.get_layer_depth(name, 'backbone.')
    groups = theirs(model).optimizer.param_groups
    for group in groups:
        assert ours[group['param_name']][0] == pytest.approx(group['lr']), group['param_name']


def test_built_from_config_through_mmdet_scope() -> None:
    wrapper = build_optim_wrapper(Detectorish(small_backbone()), dict(
        OPTIM, constructor='LayerDecayOptimWrapperConstructor',
        paramwise_cfg=dict(layer_decay_rate=0.8)))
    lrs = sorted({g['lr'] for g in wrapper.optimizer.param_groups})
    assert lrs[-1] == pytest.approx(LR) and lrs[0] == pytest.approx(LR * 0.8**5)


def test_clear_errors() -> None:
    class NoDepth(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.backbone = nn.Linear(2, 2)

    with pytest.raises(NotImplementedError, match='get_layer_depth'):
        build(NoDepth())
    with pytest.raises(KeyError, match='decay_rate'):
        LayerDecayOptimWrapperConstructor(dict(OPTIM), dict(decay_rate=0.7))
    with pytest.raises(ValueError, match='layer_decay_rate'):
        LayerDecayOptimWrapperConstructor(dict(OPTIM), dict(layer_decay_rate=1.5))


def test_no_decay_even_when_the_optimizer_default_decays() -> None:
    """AdamW decays by 0.01 by default: norms and biases must still get 0."""
    optim = dict(type='OptimWrapper', optimizer=dict(type='AdamW', lr=LR))
    optimizer = LayerDecayOptimWrapperConstructor(optim, dict(layer_decay_rate=RATE))(
        Detectorish(small_backbone())).optimizer
    for group in optimizer.param_groups:
        if 'backbone.layers.0.ln1.weight' in group['param_names']:
            assert group['weight_decay'] == 0.0
        if 'backbone.layers.0.attn.qkv.weight' in group['param_names']:
            assert group['weight_decay'] == pytest.approx(0.01)  # AdamW's default


def test_shared_depth_last_gives_shared_tensors_the_base_models_lr() -> None:
    """``shared_depth='last'`` on a cyclic 2x ScaleNet: every shared tensor gets the lr that
    mmpretrain's own constructor gives the same layer of the plain L-layer ViT at the same
    rate; the embeddings and the per-instance tensors stay at their instance depths."""
    grown = Detectorish(small_backbone(depth=4))  # cyclic [0, 1, 0, 1] over 2 layers
    ours = by_name(build(grown, shared_depth='last'))
    base = Detectorish(VisionTransformer(arch=ARCH, img_size=64, patch_size=16,
                                         out_type='featmap', with_cls_token=False))
    from mmpretrain.engine.optimizers import LearningRateDecayOptimWrapperConstructor
    base.get_layer_depth = lambda name: base.backbone.get_layer_depth(name, 'backbone.')
    theirs = {g['param_name']: g['lr'] for g in LearningRateDecayOptimWrapperConstructor(
        dict(OPTIM), dict(layer_decay_rate=RATE))(base).optimizer.param_groups}
    shared = [n for n in ours if n.startswith('backbone.layers.')]
    assert shared
    for name in shared:
        assert ours[name][0] == pytest.approx(theirs[name]), name
        assert ours[name][2] == int(name.split('.')[2]) + 2 + 1  # last use: instance j + 2
    # the default rule is unchanged: the first use, two depths lower
    first = by_name(build(grown))
    assert first['backbone.layers.1.attn.qkv.weight'][0] == pytest.approx(
        ours['backbone.layers.1.attn.qkv.weight'][0] * RATE**2)
    for name in ('backbone.pos_embed', 'backbone.instances.2.lora.qkv.lora_A', 'head.1.weight'):
        assert ours[name] == first[name], name


def test_shared_depth_rule_errors_name_the_setting() -> None:
    with pytest.raises(ValueError, match="shared_depth='middle'"):
        LayerDecayOptimWrapperConstructor(dict(OPTIM), dict(shared_depth='middle'))
    plain = Detectorish(VisionTransformer(arch=ARCH, img_size=64, patch_size=16,
                                          out_type='featmap'))
    with pytest.raises(ValueError, match='VisionTransformer has none'):
        build(plain, shared_depth='last')
    build(plain, shared_depth='first')  # the default rule works on any backbone
