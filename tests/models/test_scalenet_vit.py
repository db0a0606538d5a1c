"""ScaleNetViT against mmpretrain's VisionTransformer and timm's SAM block (implementations
written elsewhere): equality at zero adapters, gradient sums into shared tensors, parameter
counts, state-dict layout, checkpointing, window attention and construction errors."""
import copy
import functools
from typing import Dict, List

import pytest
import torch
import torch.nn as nn
from mmpretrain.models.backbones import VisionTransformer
from timm.models.vision_transformer_sam import Block as SamBlock

import scalenet_mm  # noqa: F401  (registers the modules)
from scalenet_mm.models import ScaleNetViT

ARCH = dict(embed_dims=32, num_layers=3, num_heads=2, feedforward_channels=64)
SMALL = dict(arch=ARCH, img_size=32, patch_size=8)


def plain_vit(num_layers: int, **kwargs) -> VisionTransformer:
    arch = dict(ARCH, num_layers=num_layers)
    return VisionTransformer(arch=arch, img_size=32, patch_size=8, **kwargs)


def randomize(module: nn.Module, seed: int = 0) -> None:
    """Give every parameter (incl. zero-initialised LoRA B, gates) a random non-zero value."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param in module.parameters():
            param.copy_(torch.randn(param.shape, generator=gen) * 0.2)


def unrolled_state_dict(model: ScaleNetViT) -> Dict[str, torch.Tensor]:
    """The state dict of a plain L'-layer ViT whose layer i is a copy of layer layer_map[i]."""
    sd = {k: v for k, v in model.state_dict().items()
          if not k.startswith(('layers.', 'instances.'))}
    for index, source in enumerate(model.layer_map):
        for key, value in model.layers[source].state_dict().items():
            sd[f'layers.{index}.{key}'] = value.clone()
    return sd


@pytest.mark.parametrize('out_type', ['cls_token', 'featmap', 'avg_featmap', 'raw'])
def test_depth_L_without_adapters_equals_mmpretrain_vit(out_type):
    torch.manual_seed(0)
    ref = plain_vit(3, out_type=out_type, out_indices=[0, -1])
    randomize(ref)
    model = ScaleNetViT(**SMALL, depth=3, adapter=None, out_type=out_type, out_indices=[0, -1])
    model.load_state_dict(ref.state_dict(), strict=True)
    ref.eval(), model.eval()
    x = torch.randn(2, 3, 32, 32)
    for ours, theirs in zip(model(x), ref(x)):
        torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize('layer_map', ['cyclic', 'interleave', [0, 2, 1, 1, 0, 2]])
def test_2x_with_zero_adapters_equals_plain_2L_vit_with_copied_layers(layer_map):
    torch.manual_seed(0)
    model = ScaleNetViT(**SMALL, depth=6, layer_map=layer_map, out_type='raw')
    randomize(model.layers)
    ref = plain_vit(6, out_type='raw')
    ref.load_state_dict(unrolled_state_dict(model), strict=True)
    model.eval(), ref.eval()
    x = torch.randn(2, 3, 32, 32)
    torch.testing.assert_close(model(x)[0], ref(x)[0], rtol=1e-5, atol=1e-6)
    # The same holds in training mode (fold/branch path instead of the eval cache).
    model.train(), ref.train()
    torch.testing.assert_close(model(x)[0], ref(x)[0], rtol=1e-5, atol=1e-6)


def test_gate_makes_2x_model_compute_the_pretrained_model():
    torch.manual_seed(0)
    pretrained = plain_vit(3, out_type='raw')
    randomize(pretrained)
    model = ScaleNetViT(**SMALL, depth=6, gate_inserted=True, out_type='raw')
    missing, unexpected = model.load_state_dict(pretrained.state_dict(), strict=False)
    assert unexpected == [] and all(k.startswith('instances.') for k in missing)
    # Adapters of inserted instances may be anything: a closed gate hides them.
    for inst in model.instances[3:]:
        randomize(inst.lora)
    assert [inst.gate1 is not None for inst in model.instances] == [False] * 3 + [True] * 3
    model.eval(), pretrained.eval()
    x = torch.randn(2, 3, 32, 32)
    torch.testing.assert_close(model(x)[0], pretrained(x)[0], rtol=1e-5, atol=1e-6)
    with torch.no_grad():
        model.instances[4].gate2.fill_(0.5)
    assert not torch.allclose(model(x)[0], pretrained(x)[0])


def test_shared_gradient_is_the_sum_over_instances():
    torch.manual_seed(0)
    model = ScaleNetViT(**SMALL, depth=6, out_type='avg_featmap')
    randomize(model)  # non-zero LoRA deltas, so instances differ
    ref = plain_vit(6, out_type='avg_featmap')
    # Fold each instance's LoRA into its copy of the layer: the unrolled model is then exact.
    sd = unrolled_state_dict(model)
    names = {'qkv': 'attn.qkv', 'proj': 'attn.proj', 'fc1': 'ffn.layers.0.0', 'fc2': 'ffn.layers.1'}
    for index, inst in enumerate(model.instances):
        for target, lora in inst.lora.items():
            sd[f'layers.{index}.{names[target]}.weight'] += lora.delta_weight().detach()
    ref.load_state_dict(sd, strict=True)
    x = torch.randn(2, 3, 32, 32)
    target = torch.randn(2, 32)
    ((model(x)[0] - target)**2).sum().backward()
    ((ref(x)[0] - target)**2).sum().backward()
    for source in range(3):
        uses = [i for i, s in enumerate(model.layer_map) if s == source]
        for name, param in model.layers[source].named_parameters():
            manual = sum(dict(ref.layers[i].named_parameters())[name].grad for i in uses)
            torch.testing.assert_close(param.grad, manual, rtol=1e-4, atol=1e-6)
    grad_b0 = model.instances[0].lora['qkv'].lora_B.grad
    grad_b3 = model.instances[3].lora['qkv'].lora_B.grad
    assert grad_b0 is not None and grad_b3 is not None
    assert not torch.allclose(grad_b0, grad_b3)


def lora_params(dims: int, ffn: int, rank: int, targets: List[str]) -> int:
    shapes = {'qkv': (dims, 3 * dims), 'proj': (dims, dims), 'fc1': (dims, ffn), 'fc2': (ffn, dims)}
    return sum(rank * (shapes[t][0] + shapes[t][1]) for t in targets)


def block_params(dims: int, ffn: int) -> int:
    return (4 * dims  # two LayerNorms
            + dims * 3 * dims + 3 * dims + dims * dims + dims  # qkv, proj
            + dims * ffn + ffn + ffn * dims + dims)  # fc1, fc2


@pytest.mark.parametrize('arch', ['deit-tiny', 'deit-small', 'deit-base'])
@pytest.mark.parametrize('depth', [12, 24, 36])
@pytest.mark.parametrize('adapter', [
    None,
    dict(type='lora', rank=10),
    dict(type='lora', rank=16, targets=('fc1', 'fc2')),
    dict(type='lora', rank=4, apply_to='inserted'),
    dict(type='bottleneck', width=8),
])
def test_unique_parameter_count_matches_closed_form(arch, depth, adapter):
    settings = ScaleNetViT.arch_zoo[arch]
    d, f, L = settings['embed_dims'], settings['feedforward_channels'], settings['num_layers']
    with torch.device('meta'):
        model = ScaleNetViT(arch=arch, depth=depth, adapter=adapter)
    per_instance = 0
    if adapter is not None and adapter['type'] == 'lora':
        instances = depth - L if adapter.get('apply_to') == 'inserted' else depth
        per_instance = instances * lora_params(d, f, adapter['rank'],
                                               adapter.get('targets', ['qkv', 'proj', 'fc1', 'fc2']))
    elif adapter is not None:
        per_instance = depth * 2 * (d * 8 + 8 + 8 * d + d)
    other = 16 * 16 * 3 * d + d + d + 197 * d + 2 * d  # patch embed, cls, pos, final norm
    counts = model.count_parameters()
    assert counts['shared'] == L * block_params(d, f)
    assert counts['per_instance'] == per_instance
    assert counts['other'] == other
    assert counts['total'] == sum(p.numel() for p in model.parameters())


def test_deit_tiny_2x_default_matches_paper_parameter_count():
    """The paper counts DeiT-Tiny (5.72 M) with its 1000-class head; ScaleNet 2x: 6.45 M."""
    with torch.device('meta'):
        model = ScaleNetViT(arch='deit-tiny', depth=2.0)
    with_head = model.count_parameters()['total'] + 192 * 1000 + 1000
    assert abs(with_head / 1e6 - 6.45) < 0.01, with_head


def test_state_dict_holds_each_tensor_once_under_mmpretrain_names():
    model = ScaleNetViT(**SMALL, depth=6, per_instance_norm=True, gate_inserted=True)
    sd = model.state_dict()
    ptrs = [v.data_ptr() for v in sd.values()]
    assert len(ptrs) == len(set(ptrs))
    ref_keys = set(plain_vit(3).state_dict())
    shared_keys = {k for k in sd if not k.startswith('instances.')}
    assert shared_keys == ref_keys
    # Changing the map or the adapter never renames shared tensors.
    other = ScaleNetViT(**SMALL, depth=9, layer_map='interleave',
                        adapter=dict(type='bottleneck', width=4))
    assert {k for k in other.state_dict() if not k.startswith('instances.')} == ref_keys


def test_mmpretrain_deit_checkpoint_loads_without_missing_shared_keys():
    ref = VisionTransformer(arch='deit-tiny', img_size=32, patch_size=16)
    model = ScaleNetViT(arch='deit-tiny', depth=24, img_size=32, patch_size=16)
    missing, unexpected = model.load_state_dict(ref.state_dict(), strict=False)
    assert unexpected == []
    assert missing and all(k.startswith('instances.') for k in missing)


def test_deepcopy_and_save_load_keep_sharing(tmp_path):
    model = ScaleNetViT(**SMALL, depth=6)
    randomize(model)
    clone = copy.deepcopy(model)
    assert sum(p.numel() for p in clone.parameters()) == model.count_parameters()['total']
    path = tmp_path / 'scalenet.pth'
    torch.save(model.state_dict(), path)
    loaded = torch.load(path, weights_only=True)
    assert set(loaded) == set(model.state_dict())
    fresh = ScaleNetViT(**SMALL, depth=6)
    fresh.load_state_dict(loaded, strict=True)
    fresh.eval(), model.eval()
    x = torch.randn(1, 3, 32, 32)
    torch.testing.assert_close(fresh(x)[0], model(x)[0])


def test_with_cp_gives_same_loss_and_gradients():
    torch.manual_seed(0)
    model = ScaleNetViT(**SMALL, depth=6, drop_path_rate=0.0)
    randomize(model)
    model_cp = copy.deepcopy(model)
    model_cp.with_cp = True
    x = torch.randn(2, 3, 32, 32)
    loss = model(x)[0].pow(2).sum()
    loss_cp = model_cp(x)[0].pow(2).sum()
    loss.backward(), loss_cp.backward()
    torch.testing.assert_close(loss, loss_cp)
    for (name, p), p_cp in zip(model.named_parameters(), model_cp.parameters()):
        torch.testing.assert_close(p.grad, p_cp.grad, msg=name)


def test_eval_cache_is_invalidated_by_weight_updates():
    torch.manual_seed(0)
    model = ScaleNetViT(**SMALL, depth=6, out_type='raw')
    randomize(model)
    x = torch.randn(1, 3, 32, 32)
    model.eval()
    with torch.no_grad():
        first = model(x)[0]
        model.instances[4].lora['fc2'].lora_B.mul_(3.0)
        model.layers[1].attn.qkv.weight.add_(0.1)
        cached = model(x)[0]
    uncached = model(x)[0]  # grad enabled: no cache used
    assert not torch.allclose(first, cached)
    torch.testing.assert_close(cached, uncached.detach(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize('training', [False, True])
def test_torch_compile_traces_without_graph_breaks(training):
    """The eval merged-weight cache is bypassed under compile (it would break the graph at
    every adapted linear and recompile per target); compiled and eager outputs agree."""
    torch.manual_seed(0)
    model = ScaleNetViT(**SMALL, depth=4, out_type='cls_token')
    randomize(model)
    model.train(training)
    x = torch.randn(2, 3, 32, 32)
    torch._dynamo.reset()
    with torch.set_grad_enabled(training):
        explanation = torch._dynamo.explain(model)(x)
        assert explanation.graph_break_count == 0, explanation.break_reasons
        assert explanation.graph_count == 1
        compiled = torch.compile(model, backend='eager')(x)[0]
        eager = model(x)[0]
    torch.testing.assert_close(compiled, eager, rtol=1e-5, atol=1e-6)


def test_get_layer_depth_puts_shared_tensors_at_their_first_use():
    model = ScaleNetViT(**SMALL, depth=6, layer_map='interleave')  # map 0,0,1,1,2,2
    assert model.get_layer_depth('backbone.pos_embed', 'backbone.') == (0, 8)
    assert model.get_layer_depth('backbone.patch_embed.projection.weight', 'backbone.') == (0, 8)
    assert model.get_layer_depth('backbone.layers.1.attn.qkv.weight', 'backbone.') == (3, 8)
    assert model.get_layer_depth('backbone.layers.2.ln1.weight', 'backbone.') == (5, 8)
    assert model.get_layer_depth('backbone.instances.3.lora.qkv.lora_A', 'backbone.') == (4, 8)
    assert model.get_layer_depth('backbone.ln1.weight', 'backbone.') == (7, 8)
    assert model.get_layer_depth('head.fc.weight', 'backbone.') == (7, 8)
    # the last use instead: layer 1 runs as instances 2 and 3
    last = dict(shared_depth='last')
    assert model.get_layer_depth('backbone.layers.1.attn.qkv.weight', 'backbone.', **last) == (4, 8)
    assert model.get_layer_depth('backbone.instances.3.lora.qkv.lora_A', 'backbone.',
                                 **last) == (4, 8)
    assert model.get_layer_depth('backbone.pos_embed', 'backbone.', **last) == (0, 8)


def test_frozen_stages_freeze_first_instances_and_their_layers():
    model = ScaleNetViT(**SMALL, depth=6, frozen_stages=2)
    model.train()
    assert not model.pos_embed.requires_grad and not model.patch_embed.projection.weight.requires_grad
    assert not any(p.requires_grad for p in model.layers[0].parameters())
    assert not any(p.requires_grad for p in model.layers[1].parameters())
    assert all(p.requires_grad for p in model.layers[2].parameters())
    assert not any(p.requires_grad for p in model.instances[1].parameters())
    assert all(p.requires_grad for p in model.instances[3].parameters())


def test_per_instance_norm_is_filled_from_source_layer_in_init_weights():
    model = ScaleNetViT(**SMALL, depth=6, per_instance_norm=True)
    model.init_weights()
    with torch.no_grad():
        model.layers[2].ln1.weight.fill_(1.5)
    model.sync_instances_from_sources()
    torch.testing.assert_close(model.instances[5].ln1.weight, model.layers[2].ln1.weight)
    # Keys that a checkpoint provided are left alone.
    with torch.no_grad():
        model.instances[2].ln1.weight.fill_(7.0)
    model.sync_instances_from_sources(skip_keys={'instances.2.ln1.weight'})
    assert torch.all(model.instances[2].ln1.weight == 7.0)


@pytest.mark.parametrize('use_rel_pos', [False, True])
def test_window_and_global_attention_equal_timm_sam_blocks(use_rel_pos):
    """Windowed / global instances compute what timm's SAM (ViTDet-style) blocks compute."""
    torch.manual_seed(0)
    model = ScaleNetViT(arch=ARCH, depth=3, adapter=None, img_size=48, patch_size=8,
                        with_cls_token=False, out_type='featmap', final_norm=False,
                        window_size=4, global_attn_indexes=(1, ), use_rel_pos=use_rel_pos)
    randomize(model)
    blocks = []
    for index, inst in enumerate(model.instances):
        window = 4 if index != 1 else 0
        block = SamBlock(32, 2, mlp_ratio=2.0, use_rel_pos=use_rel_pos, window_size=window,
                         input_size=(6, 6), norm_layer=functools.partial(nn.LayerNorm, eps=1e-6))
        src = model.layers[inst.source]
        sd = {'norm1.weight': src.ln1.weight, 'norm1.bias': src.ln1.bias,
              'attn.qkv.weight': src.attn.qkv.weight, 'attn.qkv.bias': src.attn.qkv.bias,
              'attn.proj.weight': src.attn.proj.weight, 'attn.proj.bias': src.attn.proj.bias,
              'norm2.weight': src.ln2.weight, 'norm2.bias': src.ln2.bias,
              'mlp.fc1.weight': src.ffn.fc1.weight, 'mlp.fc1.bias': src.ffn.fc1.bias,
              'mlp.fc2.weight': src.ffn.fc2.weight, 'mlp.fc2.bias': src.ffn.fc2.bias}
        if use_rel_pos:
            sd.update({'attn.rel_pos_h': inst.rel_pos_h, 'attn.rel_pos_w': inst.rel_pos_w})
        block.load_state_dict(sd, strict=True)
        blocks.append(block.eval())
    model.eval()
    x = torch.randn(2, 3, 48, 48)  # 6x6 tokens, windows of 4: padding is exercised
    tokens, hw = model.patch_embed(x)
    h = (tokens + model.pos_embed).reshape(2, *hw, 32)
    for block in blocks:
        h = block(h)
    torch.testing.assert_close(model(x)[0], h.permute(0, 3, 1, 2), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize('kwargs, match', [
    (dict(arch='deit-huge-xl'), "arch='deit-huge-xl' is unknown"),
    (dict(arch=dict(embed_dims=32)), 'custom arch is a dict with keys'),
    (dict(depth=2), 'depth=2 is smaller'),
    (dict(depth=6, layer_map=[0, 1, 2]), 'has 3 entries but depth is 6'),
    (dict(depth=4, layer_map=[0, 1, 2, 5]), r'layer_map\[3\]=5 is out of range'),
    (dict(adapter=dict(type='lora', rank=0)), 'rank=0 is invalid'),
    (dict(adapter=dict(type='lorax')), "type='lorax' is unknown"),
    (dict(adapter=dict(type='lora', targets=('fc3', ))), 'targets'),
    (dict(depth=6, out_indices=[6]), 'out_indices contains 6'),
    (dict(depth=6, out_indices=[-7]), 'out_indices contains -7'),
    (dict(out_type='tokens'), "out_type='tokens' is not supported"),
    (dict(window_size=4), 'needs with_cls_token=False'),
    (dict(depth=6, window_size=4, with_cls_token=False, out_type='featmap',
          global_attn_indexes=(9, )), 'global_attn_indexes contains 9'),
])
def test_bad_construction_arguments_name_the_problem(kwargs, match):
    args = dict(SMALL, **kwargs)
    with pytest.raises(ValueError, match=match):
        ScaleNetViT(**args)


def test_builds_from_both_registries():
    from mmdet.registry import MODELS as DET_MODELS
    from mmpretrain.registry import MODELS as PRETRAIN_MODELS
    cfg = dict(type='ScaleNetViT', **SMALL, depth=6)
    for registry in (PRETRAIN_MODELS, DET_MODELS):
        model = registry.build(copy.deepcopy(cfg))
        assert isinstance(model, ScaleNetViT) and model.depth == 6


def test_init_weights_runs_other_init_cfgs_keeps_init_cfg_and_runs_once():
    init_cfg = [dict(type='Constant', layer='Linear', val=0.5, bias=0.0)]
    model = ScaleNetViT(**SMALL, depth=6, adapter=None, init_cfg=copy.deepcopy(init_cfg))
    model.init_weights()
    assert model.is_init and model.init_cfg == init_cfg
    assert torch.all(model.layers[1].attn.qkv.weight == 0.5)
    with torch.no_grad():
        model.layers[1].attn.qkv.weight.fill_(2.0)
    model.init_weights()  # mmengine semantics: a second call changes nothing
    assert torch.all(model.layers[1].attn.qkv.weight == 2.0)


def test_init_weights_without_loading_leaves_the_checkpoint_alone(tmp_path):
    path = tmp_path / 'missing.pth'  # would raise if it were read
    model = ScaleNetViT(**SMALL, depth=6, init_cfg=dict(type='Pretrained', checkpoint=str(path)))
    model.init_weights(load_pretrained=False)
    assert model.is_init
    with pytest.raises(Exception, match='missing.pth'):
        ScaleNetViT(**SMALL, depth=6,
                    init_cfg=dict(type='Pretrained', checkpoint=str(path))).init_weights()


def test_pos_embed_of_another_grid_is_resized_and_a_non_square_one_is_named():
    ref = plain_vit(3)  # 4x4 patches + class token
    model = ScaleNetViT(arch=ARCH, depth=3, adapter=None, img_size=48, patch_size=8)  # 6x6 + cls
    sd = ref.state_dict()
    model.load_state_dict(sd, strict=True)
    assert model.pos_embed.shape == (1, 37, 32)
    torch.testing.assert_close(model.pos_embed[:, 0], sd['pos_embed'][:, 0])
    bad = dict(sd, pos_embed=torch.zeros(1, 1 + 15, 32))
    with pytest.raises(ValueError, match=r'pos_embed of shape \(1, 16, 32\).*not a square grid'):
        model.load_state_dict(bad, strict=True)
