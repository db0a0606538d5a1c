"""The shared block against timm's SAM (ViTDet-style) block, in plain PyTorch: window and global
attention, decomposed relative positions (also at a grid the tables were not made for), padding
of grids that windows do not tile, and stochastic depth."""
import functools

import pytest
import torch
import torch.nn as nn
from timm.models.vision_transformer_sam import Block as SamBlock

import method_import  # noqa: F401  (scalenet_mm.method without OpenMMLab, see there)
from scalenet_mm.method import LayerInstance, SharedBlock

DIMS, HEADS, FFN = 32, 2, 64


def randomize(module: nn.Module, seed: int) -> None:
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param in module.parameters():
            param.copy_(torch.randn(param.shape, generator=gen) * 0.2)


def sam_twin(block: SharedBlock, instance: LayerInstance, window: int,
             table_hw: tuple) -> SamBlock:
    use_rel_pos = instance.rel_pos_h is not None
    sam = SamBlock(DIMS, HEADS, mlp_ratio=FFN / DIMS, use_rel_pos=use_rel_pos, window_size=window,
                   input_size=table_hw, norm_layer=functools.partial(nn.LayerNorm, eps=1e-6))
    sd = {'norm1.weight': block.ln1.weight, 'norm1.bias': block.ln1.bias,
          'attn.qkv.weight': block.attn.qkv.weight, 'attn.qkv.bias': block.attn.qkv.bias,
          'attn.proj.weight': block.attn.proj.weight, 'attn.proj.bias': block.attn.proj.bias,
          'norm2.weight': block.ln2.weight, 'norm2.bias': block.ln2.bias,
          'mlp.fc1.weight': block.ffn.fc1.weight, 'mlp.fc1.bias': block.ffn.fc1.bias,
          'mlp.fc2.weight': block.ffn.fc2.weight, 'mlp.fc2.bias': block.ffn.fc2.bias}
    if use_rel_pos:
        sd.update({'attn.rel_pos_h': instance.rel_pos_h, 'attn.rel_pos_w': instance.rel_pos_w})
    sam.load_state_dict(sd, strict=True)
    return sam.eval()


@pytest.mark.parametrize('window, rel_pos_hw, grid', [
    (4, (0, 0), (6, 6)),   # windows of 4 over 6x6: padding
    (4, (4, 4), (6, 5)),   # relative positions per window, non-square grid
    (0, (5, 5), (5, 5)),   # global attention with relative positions
    (0, (3, 3), (5, 4)),   # tables made for 3x3, used on 5x4: linear resize of the tables
])
def test_shared_block_equals_timm_sam_block(window, rel_pos_hw, grid):
    block = SharedBlock(DIMS, HEADS, FFN)
    instance = LayerInstance(0, DIMS, HEADS, FFN, window_size=window, rel_pos_hw=rel_pos_hw)
    randomize(block, 0)
    randomize(instance, 1)
    sam = sam_twin(block, instance, window, rel_pos_hw if rel_pos_hw[0] else grid)
    block.eval(), instance.eval()
    x = torch.randn(2, grid[0] * grid[1], DIMS)
    with torch.no_grad():
        ours = block(x, instance, grid)
        theirs = sam(x.view(2, *grid, DIMS)).reshape(2, -1, DIMS)
    torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-5)


def test_drop_path_in_training_only_and_rate_one_drops_both_branches():
    """Stochastic depth is timm's drop_path: off in eval; at rate 1 every residual branch is
    dropped, so the instance is the identity (no division by a zero keep probability)."""
    torch.manual_seed(0)
    block = SharedBlock(DIMS, HEADS, FFN)
    x = torch.randn(8, 4, DIMS)
    always = LayerInstance(0, DIMS, HEADS, FFN, drop_path_rate=1.0)
    never = LayerInstance(0, DIMS, HEADS, FFN, drop_path_rate=0.0)
    with torch.no_grad():
        block.train(), always.train(), never.train()
        torch.testing.assert_close(block(x, always, (2, 2)), x, rtol=0, atol=0)
        trained = block(x, never, (2, 2))
        block.eval(), always.eval()
        evaluated = block(x, always, (2, 2))
    assert not torch.allclose(evaluated, x)
    torch.testing.assert_close(evaluated, trained)


def test_dtype_moves_clear_the_eval_merge_cache():
    """The eval cache of merged LoRA weights is cleared through ``nn.Module._apply`` (torch has
    no public hook for .to/.double/.cuda): this fails if torch stops routing moves through it."""
    torch.manual_seed(0)
    from scalenet_mm.method import AdapterConfig
    block = SharedBlock(DIMS, HEADS, FFN)
    instance = LayerInstance(0, DIMS, HEADS, FFN,
                             adapter=AdapterConfig.from_spec(dict(type='lora', rank=2)))
    randomize(instance, 1)
    block.eval(), instance.eval()
    x = torch.randn(1, 4, DIMS)
    with torch.no_grad():
        block(x, instance, (2, 2))
        assert set(instance._merged_cache) == {'qkv', 'proj', 'fc1', 'fc2'}
        instance.to(torch.float64)
        assert instance._merged_cache == {}
        block.double()
        out = block(x.double(), instance, (2, 2))
        assert out.dtype == torch.float64
        assert all(v[1].dtype == torch.float64 for v in instance._merged_cache.values())
        instance.float()
        assert instance._merged_cache == {}
