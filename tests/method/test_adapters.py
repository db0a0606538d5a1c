"""Adapters: our LoRA against peft's LoRA linear on the same ``nn.Linear`` (delta, merged weight,
forward, unmerge), the fold/branch equivalence, bottleneck init and config errors."""
import copy

import pytest
import torch
import torch.nn as nn

import method_import  # noqa: F401  (scalenet_mm.method without OpenMMLab, see there)
from scalenet_mm.method import AdapterConfig, Bottleneck, LayerInstance, LoRA, adapted_linear


def test_lora_starts_at_zero():
    lora = LoRA(8, 12, rank=4, alpha=8.0)
    assert torch.count_nonzero(lora.lora_B) == 0
    assert torch.count_nonzero(lora.delta_weight()) == 0
    assert torch.count_nonzero(lora.lora_A) > 0  # A is random, so B's gradient is not zero


class _OneLinear(nn.Module):
    def __init__(self, linear: nn.Linear) -> None:
        super().__init__()
        self.fc = linear


@pytest.mark.parametrize('rank, alpha', [(4, 8.0), (2, 2.0), (8, 4.0)])
def test_lora_matches_peft_lora_linear(rank, alpha):
    """peft's ``peft.tuners.lora.layer.Linear`` wrapping the same Linear with the same A, B,
    alpha and r: equal delta weight, merged weight, forward output, and unmerge restores W."""
    peft = pytest.importorskip('peft')
    from peft.tuners.lora.layer import Linear as PeftLoraLinear
    torch.manual_seed(0)
    linear = nn.Linear(16, 24)
    original = linear.weight.detach().clone()
    lora = LoRA(16, 24, rank=rank, alpha=alpha)
    nn.init.normal_(lora.lora_B)
    config = peft.LoraConfig(r=rank, lora_alpha=alpha, lora_dropout=0.0, target_modules=['fc'])
    peft_model = peft.get_peft_model(_OneLinear(copy.deepcopy(linear)), config)
    layer = peft_model.base_model.model.fc
    assert isinstance(layer, PeftLoraLinear)
    with torch.no_grad():
        layer.lora_A['default'].weight.copy_(lora.lora_A)
        layer.lora_B['default'].weight.copy_(lora.lora_B)
    assert layer.scaling['default'] == pytest.approx(lora.scaling)
    x = torch.randn(3, 5, 16)
    layer.eval()
    with torch.no_grad():
        torch.testing.assert_close(lora.delta_weight(), layer.get_delta_weight('default'))
        expected = layer(x)
        torch.testing.assert_close(linear(x) + lora.branch(x), expected)
        merged = lora.merged_weight(linear.weight)
        torch.testing.assert_close(nn.functional.linear(x, merged, linear.bias), expected)
        layer.merge()
        torch.testing.assert_close(merged, layer.base_layer.weight)
        torch.testing.assert_close(layer(x), expected)
        layer.unmerge()
        torch.testing.assert_close(layer.base_layer.weight, linear.weight)
    # Our merge never writes into W (peft's merge does, so it needs unmerge): W is untouched.
    torch.testing.assert_close(linear.weight, original, rtol=0, atol=0)
    assert not torch.allclose(merged, linear.weight)


def test_default_alpha_means_scaling_one_as_peft_with_alpha_equal_rank():
    cfg = AdapterConfig.from_spec(dict(type='lora', rank=6))
    assert cfg.lora_alpha == 6.0
    assert LoRA(8, 8, cfg.rank, cfg.lora_alpha).scaling == 1.0


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
