"""Adapters: LoRA delta algebra, the fold/branch equivalence, bottleneck init and config errors."""
import pytest
import torch
import torch.nn as nn

import method_import  # noqa: F401  (scalenet_mm.method without OpenMMLab, see there)
from scalenet_mm.method import AdapterConfig, Bottleneck, LayerInstance, LoRA, adapted_linear


def test_lora_starts_at_zero_and_matches_peft_formula():
    torch.manual_seed(0)
    lora = LoRA(8, 12, rank=4, alpha=8.0)
    assert torch.count_nonzero(lora.delta_weight()) == 0
    nn.init.normal_(lora.lora_B)
    x = torch.randn(5, 8)
    expected = (x @ lora.lora_A.T @ lora.lora_B.T) * (8.0 / 4)
    torch.testing.assert_close(lora.branch(x), expected)
    torch.testing.assert_close(x @ lora.delta_weight().T, expected)


@pytest.mark.parametrize('tokens', [1, 3, 64])
def test_adapted_linear_fold_and_branch_agree(tokens):
    """Whichever form adapted_linear picks for the token count, the result is W x + delta x."""
    torch.manual_seed(0)
    linear = nn.Linear(16, 48)
    inst = LayerInstance(0, 16, 2, 32, adapter=AdapterConfig.from_spec(dict(type='lora', rank=2)))
    nn.init.normal_(inst.lora['qkv'].lora_B)
    x = torch.randn(2, tokens, 16)
    expected = linear(x) + inst.lora['qkv'].branch(x)
    torch.testing.assert_close(adapted_linear(x, linear, inst, 'qkv'), expected)
    inst.eval()
    with torch.no_grad():
        torch.testing.assert_close(adapted_linear(x, linear, inst, 'qkv'), expected)


def test_eval_cache_follows_weight_updates():
    torch.manual_seed(0)
    linear = nn.Linear(16, 48)
    inst = LayerInstance(0, 16, 2, 32, adapter=AdapterConfig.from_spec(dict(type='lora', rank=2)))
    inst.eval()
    x = torch.randn(1, 4, 16)
    with torch.no_grad():
        before = adapted_linear(x, linear, inst, 'qkv')
        inst.lora['qkv'].lora_B.add_(1.0)  # an in-place update, as an optimizer step does
        after = adapted_linear(x, linear, inst, 'qkv')
        linear.weight.mul_(2.0)
        after_w = adapted_linear(x, linear, inst, 'qkv')
    assert not torch.allclose(before, after)
    torch.testing.assert_close(after, linear.bias + x @ (linear.weight / 2).T
                               + inst.lora['qkv'].branch(x))
    torch.testing.assert_close(after_w, linear(x) + inst.lora['qkv'].branch(x))


def test_bottleneck_starts_at_zero():
    adapter = Bottleneck(16, 4)
    assert torch.count_nonzero(adapter(torch.randn(3, 16))) == 0


@pytest.mark.parametrize('spec, match', [
    (dict(type='prefix'), "type='prefix' is unknown"),
    (dict(type='lora', rank=0), 'rank=0 is invalid'),
    (dict(type='lora', rank=-2), 'rank=-2 is invalid'),
    (dict(type='lora', targets=('qkv', 'fc3')), "targets=\\['qkv', 'fc3'\\] is invalid"),
    (dict(type='bottleneck', positions=('mlp', )), "positions=\\['mlp'\\] is invalid"),
    (dict(type='bottleneck', width=0), 'width=0 is invalid'),
    (dict(type='lora', apply_to='some'), "apply_to='some' is unknown"),
    (dict(type='lora', rnak=4), "unknown keys \\['rnak'\\]"),
])
def test_bad_adapter_config_names_the_field(spec, match):
    with pytest.raises(ValueError, match=match):
        AdapterConfig.from_spec(spec)
