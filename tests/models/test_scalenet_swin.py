"""ScaleNetSwin against mmpretrain's and mmdet's own SwinTransformer (implementations written
elsewhere): equality at depth 1.0 without adapters, equality of a 2x model with zero LoRA and
a plain Swin of copied blocks, gradient sums into shared tensors, the shift policy and its
refusals, depth parsing, layer-wise lr decay depths and the layer-decay constructor."""
from typing import Dict, List

import pytest
import torch
import torch.nn as nn
from mmdet.models.backbones import SwinTransformer as MMDetSwin
from mmpretrain.models.backbones import SwinTransformer

import scalenet_mm  # noqa: F401  (registers the modules)
from scalenet_mm.engine.optimizers import LayerDecayOptimWrapperConstructor
from scalenet_mm.models.backbones import ScaleNetSwin

ARCH = dict(embed_dims=16, depths=[2, 2, 2, 2], num_heads=[1, 2, 2, 4])
#: 64 px, patch 2, window 4: feature maps 32, 16, 8, 4 (the last equals the window)
SMALL = dict(arch=ARCH, img_size=64, patch_size=2, window_size=4, drop_path_rate=0.)


def randomize(module: nn.Module, seed: int = 0, std: float = 0.2) -> nn.Module:
    """Random non-zero values in every parameter (LoRA B, gates and norms included)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param in module.parameters():
            param.copy_(torch.randn(param.shape, generator=gen) * std)
    return module


def plain_swin(depths: List[int], **kwargs) -> SwinTransformer:
    kwargs = dict(SMALL, **kwargs)
    kwargs['arch'] = dict(ARCH, depths=list(depths))
    return SwinTransformer(**kwargs)


def unrolled_state_dict(model: ScaleNetSwin) -> Dict[str, torch.Tensor]:
    """A plain Swin's state dict whose block i of stage s copies block layer_maps[s][i]."""
    sd = {k: v for k, v in model.state_dict().items() if '.blocks.' not in k
          and '.instances.' not in k}
    for s, stage_map in enumerate(model.layer_maps):
        for index, source in enumerate(stage_map):
            for key, value in model.stages[s].blocks[source].state_dict().items():
                sd[f'stages.{s}.blocks.{index}.{key}'] = value.clone()
    return sd


def images(batch: int = 2, h: int = 64, w: int = 64, seed: int = 1) -> torch.Tensor:
    return torch.randn(batch, 3, h, w, generator=torch.Generator().manual_seed(seed))


def assert_outputs_close(ours, theirs) -> None:
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs):
        assert a.shape == b.shape
        torch.testing.assert_close(a, b, rtol=1e-5, atol=2e-5)


# ------------------------------------------------------------------ equivalences
@pytest.mark.parametrize('pad_small_map,size', [(False, (64, 64)), (False, (72, 56)),
                                                (True, (40, 40))])
def test_depth_1_without_adapters_equals_mmpretrain_swin(pad_small_map, size):
    """Same weights (loaded strictly: identical names), same outputs of all four stages, with
    padded maps (72x56 -> 9x7 in stage 2) and maps below the window (pad_small_map)."""
    ref = randomize(plain_swin([2, 2, 2, 2], out_indices=(0, 1, 2, 3),
                               pad_small_map=pad_small_map))
    model = ScaleNetSwin(**SMALL, depth=1.0, adapter=None, out_indices=(0, 1, 2, 3),
                         pad_small_map=pad_small_map)
    model.load_state_dict(ref.state_dict(), strict=True)
    ref.eval(), model.eval()
    x = images(h=size[0], w=size[1])
    assert_outputs_close(model(x), ref(x))


def test_depth_1_equals_mmdet_swin_with_pad_small_map():
    """mmdet's Swin (always pads, always shifts) equals ScaleNetSwin with pad_small_map=True,
    from the same state dict (mmdet uses mmpretrain's names)."""
    ref = MMDetSwin(embed_dims=16, depths=[2, 2, 2, 2], num_heads=[1, 2, 2, 4], window_size=4,
                    patch_size=2, strides=(2, 2, 2, 2), drop_path_rate=0., out_indices=(0, 1, 2, 3))
    randomize(ref)
    model = ScaleNetSwin(**SMALL, depth=1.0, adapter=None, out_indices=(0, 1, 2, 3),
                         pad_small_map=True)
    model.load_state_dict(ref.state_dict(), strict=True)
    ref.eval(), model.eval()
    x = images(h=72, w=56)
    assert_outputs_close(model(x), ref(x))


@pytest.mark.parametrize('depth,layer_map', [(2.0, 'cyclic'), ([4, 2, 3, 6], 'cyclic'),
                                             ([4, 2, 2, 4], [[0, 1, 0, 1], [0, 1], [0, 1],
                                                             [0, 1, 0, 1]])])
def test_scaled_with_zero_lora_equals_plain_swin_of_copied_blocks(depth, layer_map):
    """Zero-initialised LoRA: stage s computes a plain Swin stage of D_s blocks copied from
    layer_maps[s] (the 2x case: 2*d_s blocks copied cyclically), in eval and train mode."""
    model = ScaleNetSwin(**SMALL, depth=depth, layer_map=layer_map, out_indices=(0, 1, 2, 3))
    for stage in model.stages:
        randomize(stage.blocks)
    assert all(float(p.detach().abs().sum()) == 0
               for n, p in model.named_parameters() if 'lora_B' in n)
    ref = plain_swin(model.depths, out_indices=(0, 1, 2, 3))
    ref.load_state_dict(unrolled_state_dict(model), strict=True)
    x = images()
    model.eval(), ref.eval()
    assert_outputs_close(model(x), ref(x))
    model.train(), ref.train()
    assert_outputs_close(model(x), ref(x))


def test_cyclic_2x_map_and_shift_follow_position():
    model = ScaleNetSwin(arch='tiny', depth=2.0, adapter=None)
    assert model.depths == [4, 4, 12, 4]
    assert model.layer_maps[2] == [b % 6 for b in range(12)]
    for stage in model.stages:
        assert [inst.shift for inst in stage.instances] == [i % 2 == 1
                                                            for i in range(len(stage.instances))]
        assert len(stage.blocks) * 2 == len(stage.instances)


def test_shared_gradients_are_the_sum_over_uses():
    """With LoRA and gates at random values, every shared tensor's gradient equals the sum of
    the gradients of its copies in the equivalent plain Swin (built from the merged export)."""
    from scalenet_mm.checkpoint import export_plain_state_dict
    model = ScaleNetSwin(**SMALL, depth=2.0, gate_inserted=True, out_indices=(0, 3))
    randomize(model, seed=3, std=0.1)
    ref = plain_swin(model.depths, out_indices=(0, 3))
    ref.load_state_dict(export_plain_state_dict(model), strict=True)
    x = images()
    model.train(), ref.train()
    sum(o.square().mean() for o in model(x)).backward()
    sum(o.square().mean() for o in ref(x)).backward()
    names = ['norm1.weight', 'attn.w_msa.relative_position_bias_table', 'attn.w_msa.qkv.bias',
             'ffn.layers.0.0.bias', 'norm2.bias']
    checked = 0
    for s, stage in enumerate(model.stages):
        for j, block in enumerate(stage.blocks):
            params = dict(block.named_parameters())
            for name in names:
                uses = [i for i, src in enumerate(model.layer_maps[s]) if src == j]
                assert len(uses) == 2
                expected = sum(dict(ref.stages[s].blocks[i].named_parameters())[name].grad
                               for i in uses)
                torch.testing.assert_close(params[name].grad, expected, rtol=1e-4, atol=1e-6)
                checked += 1
    assert checked == 4 * 2 * len(names)
    # the patch merging and the patch embedding are single-use: gradients equal one for one
    torch.testing.assert_close(model.stages[0].downsample.reduction.weight.grad,
                               ref.stages[0].downsample.reduction.weight.grad,
                               rtol=1e-4, atol=1e-6)


def test_closed_gates_give_the_pretrained_swin():
    """gate_inserted: with any adapters, the 2x model computes the pretrained depth-1 Swin."""
    pretrained = randomize(plain_swin([2, 2, 2, 2], out_indices=(0, 1, 2, 3)))
    model = ScaleNetSwin(**SMALL, depth=2.0, gate_inserted=True, out_indices=(0, 1, 2, 3))
    randomize(model, seed=5, std=0.1)
    for stage in model.stages:
        for instance in stage.instances:
            if instance.gate1 is not None:
                nn.init.zeros_(instance.gate1), nn.init.zeros_(instance.gate2)
    for stage in model.stages:  # first uses: adapters zero (B = 0), so they are the source
        for instance in stage.instances[:2]:
            for lora in instance.lora.values():
                nn.init.zeros_(lora.lora_B)
    missing, unexpected = model.load_state_dict(pretrained.state_dict(), strict=False)
    assert unexpected == [] and all('.instances.' in k for k in missing)
    model.eval(), pretrained.eval()
    x = images()
    assert_outputs_close(model(x), pretrained(x))


def test_inference_attention_path_equals_the_training_path():
    """Without grad, shifted-window attention takes a second path (one bias per window of every
    image, 4-D q/k/v, so SDPA keeps its fused CPU kernel). It must compute what the training
    path computes, on several images (the per-image broadcast of the mask is where a reshape
    could pair windows with the wrong image) and a non-square map, and at depth 1 what
    mmpretrain's Swin computes without grad."""
    model = randomize(ScaleNetSwin(**SMALL, depth=2.0, out_indices=(0, 1, 2, 3)), std=0.1)
    model.eval()
    x = images(batch=3, h=72, w=56, seed=4)
    with_grad = model(x)
    with torch.no_grad():
        without_grad = model(x)
    assert_outputs_close(without_grad, [t.detach() for t in with_grad])

    plain = ScaleNetSwin(**SMALL, depth=1.0, adapter=None, out_indices=(0, 1, 2, 3))
    randomize(plain, seed=6, std=0.1)
    reference = plain_swin([2, 2, 2, 2], out_indices=(0, 1, 2, 3))
    reference.load_state_dict(plain.state_dict(), strict=True)
    plain.eval(), reference.eval()
    with torch.no_grad():
        assert_outputs_close(plain(x), reference(x))


def test_with_cp_gives_the_same_outputs_and_gradients():
    torch.manual_seed(0)
    model = randomize(ScaleNetSwin(**SMALL, depth=2.0), std=0.1)
    ckpt = ScaleNetSwin(**SMALL, depth=2.0, with_cp=True)
    ckpt.load_state_dict(model.state_dict())
    x = images()
    model.train(), ckpt.train()
    model(x)[0].sum().backward()
    ckpt(x)[0].sum().backward()
    for (name, a), (_, b) in zip(model.named_parameters(), ckpt.named_parameters()):
        torch.testing.assert_close(a.grad, b.grad, rtol=1e-4, atol=1e-6, msg=name)


def test_bottleneck_adapter_and_own_norms_run_and_start_as_identity_change():
    model = ScaleNetSwin(**SMALL, depth=2.0, adapter=dict(type='bottleneck', width=4),
                         per_instance_norm=True, out_indices=(0, 1, 2, 3))
    model.init_weights()
    ref = plain_swin(model.depths, out_indices=(0, 1, 2, 3))
    ref.load_state_dict(unrolled_state_dict(model), strict=True)
    model.eval(), ref.eval()
    x = images()
    assert_outputs_close(model(x), ref(x))  # zero up-projection, norms copied from sources


def test_registered_in_mmpretrain_and_mmdet():
    from mmdet.registry import MODELS as DET_MODELS
    from mmpretrain.registry import MODELS as PRETRAIN_MODELS
    for registry in (PRETRAIN_MODELS, DET_MODELS):
        model = registry.build(dict(type='ScaleNetSwin', **SMALL, depth=2.0))
        assert isinstance(model, ScaleNetSwin)


def test_unique_parameters_about_half_of_plain_2x():
    model = ScaleNetSwin(arch='tiny', depth=2.0)
    plain = SwinTransformer(arch=dict(SwinTransformer.arch_zoo['tiny'], depths=model.depths))
    ours = model.count_parameters()['total']
    assert ours == sum(p.numel() for p in model.parameters())
    base = sum(p.numel() for p in SwinTransformer(arch='tiny').parameters())
    theirs = sum(p.numel() for p in plain.parameters())
    assert base < ours < 0.62 * theirs


def test_frozen_stages_freeze_embedding_stages_and_norms():
    model = ScaleNetSwin(**SMALL, depth=2.0, frozen_stages=1, out_indices=(0, 1, 2, 3))
    model.train()
    for name, param in model.named_parameters():
        frozen = name.startswith(('patch_embed', 'stages.0.', 'stages.1.', 'norm0', 'norm1'))
        assert param.requires_grad != frozen, name
    assert not model.stages[1].training and model.stages[2].training


# ------------------------------------------------------------------ refusals
@pytest.mark.parametrize('layer_map,match', [
    ('interleave', r'stage 0: layer map \[0, 0, 1, 1\] breaks the Swin shift pattern'),
    ([[0, 1, 1, 0], [0, 1, 0, 1], [0, 1, 0, 1], [0, 1, 0, 1]],
     r'instance 2 -> block 1, instance 3 -> block 0'),
])
def test_a_map_breaking_the_shift_pattern_is_refused(layer_map, match):
    with pytest.raises(ValueError, match=match):
        ScaleNetSwin(**SMALL, depth=2.0, layer_map=layer_map)


def test_cyclic_map_over_an_odd_stage_is_refused():
    arch = dict(embed_dims=16, depths=[3, 2], num_heads=[1, 2])
    with pytest.raises(ValueError, match='stage 0: .*breaks the Swin shift pattern'):
        ScaleNetSwin(arch=arch, img_size=64, patch_size=2, window_size=4, depth=2.0,
                     out_indices=(1, ))


@pytest.mark.parametrize('depth,error,match', [
    (1.25, ValueError, r'depth=1.25 gives 2.5 layer instances in stage 0'),
    (2, TypeError, r'ambiguous.*depth=2.0.*\[4, 4, 4, 4\]'),
    ([4, 4, 4], ValueError, r'has 3 entries but the model has 4 stages'),
    ([4, 1, 4, 4], ValueError, r'stage 1: depth=1 is smaller'),
    (0.5, ValueError, r'stage 0: .*smaller'),
])
def test_bad_depth_is_refused(depth, error, match):
    with pytest.raises(error, match=match):
        ScaleNetSwin(**SMALL, depth=depth)


def test_small_map_without_padding_is_refused_with_the_fix():
    model = ScaleNetSwin(**SMALL, depth=1.0, adapter=None).eval()
    with pytest.raises(ValueError, match='pad_small_map=True'):
        model(images(h=32, w=32))  # stage 3 map 2x2 < window 4


# ------------------------------------------------------------------ layer-wise lr decay
def test_get_layer_depth_at_depth_1_is_mmpretrains():
    model = ScaleNetSwin(**SMALL, depth=1.0, adapter=None, out_indices=(0, 1, 2, 3))
    ref = plain_swin([2, 2, 2, 2], out_indices=(0, 1, 2, 3))
    names = [n for n, _ in ref.named_parameters()]
    assert names == [n for n, _ in model.named_parameters()]
    for name in names:
        assert model.get_layer_depth('backbone.' + name, 'backbone.') == \
            ref.get_layer_depth('backbone.' + name, 'backbone.'), name


def test_get_layer_depth_counts_instances_and_shares_at_first_use():
    model = ScaleNetSwin(**SMALL, depth=[4, 2, 2, 6])
    num_layers = 14 + 2
    assert model.get_layer_depth('patch_embed.projection.weight') == (0, num_layers)
    assert model.get_layer_depth('stages.0.instances.3.lora.qkv.lora_A') == (4, num_layers)
    assert model.get_layer_depth('stages.0.blocks.1.norm1.weight') == (2, num_layers)
    assert model.get_layer_depth('stages.0.downsample.reduction.weight') == (4, num_layers)
    assert model.get_layer_depth('stages.3.instances.5.lora.fc2.lora_B') == (14, num_layers)
    assert model.get_layer_depth('stages.3.blocks.1.ffn.layers.1.weight') == (10, num_layers)
    assert model.get_layer_depth('norm3.weight') == (num_layers - 1, num_layers)
    assert model.get_layer_depth('head.fc.weight', 'backbone.') == (num_layers - 1, num_layers)
    # the last use instead: stage 3 runs its 2 blocks as instances 0..5 (cyclic), block 1 last at 5
    assert model.get_layer_depth('stages.3.blocks.1.ffn.layers.1.weight',
                                 shared_depth='last') == (8 + 5 + 1, num_layers)
    assert model.get_layer_depth('stages.0.blocks.1.norm1.weight', shared_depth='last') == \
        (3 + 1, num_layers)


def test_layer_decay_constructor_on_a_swin_classifier():
    """Each tensor once; a shared block at the lr of its first use; no decay on bias tables."""
    from mmpretrain.models import ImageClassifier
    model = ImageClassifier(backbone=dict(type='ScaleNetSwin', **SMALL, depth=2.0),
                            neck=dict(type='GlobalAveragePooling'),
                            head=dict(type='LinearClsHead', num_classes=5, in_channels=128))
    constructor = LayerDecayOptimWrapperConstructor(
        dict(optimizer=dict(type='AdamW', lr=1.0, weight_decay=0.05)),
        dict(layer_decay_rate=0.5))
    wrapper = constructor(model)
    groups = wrapper.optimizer.param_groups
    params = [p for g in groups for p in g['params']]
    assert len(params) == len({id(p) for p in params}) == len(list(model.parameters()))
    lr_of = {name: g['lr'] for g in groups for name in g['param_names']}
    decay_of = {name: g['weight_decay'] for g in groups for name in g['param_names']}
    num_layers = sum(model.backbone.depths) + 2
    # block 1 of stage 1 is first used by instance 1 of stage 1: depth 4 + 1 + 1 = 6
    assert lr_of['backbone.stages.1.blocks.1.attn.w_msa.qkv.weight'] == pytest.approx(
        0.5**(num_layers - 1 - 6))
    assert lr_of['backbone.stages.1.instances.3.lora.qkv.lora_A'] == pytest.approx(
        0.5**(num_layers - 1 - 8))
    assert lr_of['head.fc.weight'] == 1.0
    assert decay_of['backbone.stages.0.blocks.0.attn.w_msa.relative_position_bias_table'] == 0
    assert decay_of['backbone.stages.0.blocks.0.attn.w_msa.qkv.weight'] == 0.05
