"""Unique-parameter counting: a shared tensor counts once, checked against counts written out
by hand (optimizer-state and checkpoint sizes: tests/benchmarks/test_sizes.py)."""
import torch.nn as nn

import scalenet_mm  # noqa: F401
from scalenet_mm.utils.complexity import count_parameter_uses, count_unique_parameters
from scalenet_mm.models import ScaleNetViT

ARCH = dict(embed_dims=32, num_layers=2, num_heads=2, feedforward_channels=64)


class TwoParents(nn.Module):
    """One Linear registered under two parents, plus a Parameter aliasing another's memory."""

    def __init__(self) -> None:
        super().__init__()
        shared = nn.Linear(8, 4)
        self.a = nn.Sequential(shared)
        self.b = nn.Sequential(shared)
        self.own = nn.Linear(4, 2)
        self.alias = nn.Parameter(self.own.weight.data)  # same memory, another Parameter


def test_shared_module_and_alias_counted_once():
    model = TwoParents()
    manual = (8 * 4 + 4) + (4 * 2 + 2)  # the shared linear once, own linear once, alias 0
    assert count_unique_parameters(model)['total'] == manual
    assert count_parameter_uses(model) == 2 * (8 * 4 + 4) + (4 * 2 + 2) + 4 * 2


def test_trainable_count_skips_frozen():
    model = TwoParents()
    model.own.bias.requires_grad = False
    counts = count_unique_parameters(model)
    assert counts['total'] - counts['trainable'] == 2


def test_scalenet_counts_match_hand_count():
    model = ScaleNetViT(arch=ARCH, depth=4, img_size=32, patch_size=16)
    d, f, r, L, Lp = 32, 64, 10, 2, 4
    block = (2 * 2 * d) + (d * 3 * d + 3 * d) + (d * d + d) + (d * f + f) + (f * d + d)
    lora = r * (d + 3 * d) + r * (d + d) + r * (d + f) + r * (f + d)
    tokens = (32 // 16) ** 2 + 1
    other = d + tokens * d + (3 * 16 * 16 * d + d) + 2 * d  # cls, pos, patch embed, final norm
    manual = L * block + Lp * lora + other
    assert count_unique_parameters(model)['total'] == manual
    assert model.count_parameters()['total'] == manual
    # counting each use of a shared block (what an unshared model of this depth has)
    assert manual + (Lp - L) * block == sum(
        p.numel() for p in ScaleNetViT(arch=dict(ARCH, num_layers=4), depth=4, img_size=32,
                                       patch_size=16, adapter=None).parameters()) + Lp * lora
