"""Size accounting of the benchmark: AdamW state, checkpoint bytes on disk and state-dict bytes
count a shared tensor once, checked against counts written out by hand."""
import torch
import torch.nn as nn

from benchmarks.harness.sizes import (checkpoint_file_bytes, optimizer_state_bytes,
                                      state_dict_bytes)
from scalenet_mm.models import ScaleNetViT
from scalenet_mm.utils.complexity import count_unique_parameters

ARCH = dict(embed_dims=32, num_layers=2, num_heads=2, feedforward_channels=64)


def test_optimizer_state_is_two_moments_per_unique_parameter():
    model = ScaleNetViT(arch=ARCH, depth=4, img_size=32, patch_size=16)
    optimizer = torch.optim.AdamW(model.parameters())
    model(torch.randn(2, 3, 32, 32))[-1].sum().backward()
    optimizer.step()
    tensors = len(list(model.parameters()))
    unique = count_unique_parameters(model)['total']
    step_bytes = optimizer_state_bytes(optimizer) - 2 * 4 * unique
    assert 0 <= step_bytes <= tensors * 8  # plus one scalar ``step`` per parameter tensor


def test_checkpoint_stores_each_shared_block_once():
    shared = ScaleNetViT(arch=ARCH, depth=8, img_size=32, patch_size=16, adapter=None)
    unshared = ScaleNetViT(arch=dict(ARCH, num_layers=8), depth=8, img_size=32, patch_size=16,
                           adapter=None)
    block_bytes = 4 * sum(p.numel() for p in shared.layers[0].parameters())
    saved = checkpoint_file_bytes(unshared) - checkpoint_file_bytes(shared)
    # the unshared file holds 6 more blocks (12 tensors each, some bytes of zip record each)
    assert 6 * block_bytes <= saved <= 6 * block_bytes + 6 * 12 * 1024
    assert state_dict_bytes(unshared) - state_dict_bytes(shared) == 6 * block_bytes


def test_state_dict_bytes_counts_aliases_once():
    model = nn.Module()
    model.a = nn.Linear(8, 4)
    model.b = model.a  # one Linear under two names
    model.alias = nn.Parameter(model.a.weight.data)  # same memory, another Parameter
    assert state_dict_bytes(model) == 4 * (8 * 4 + 4)
