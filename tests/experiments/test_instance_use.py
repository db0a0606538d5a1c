"""Skipping one layer instance (``experiments.scalenet_evidence.instance_use``): the hook must
replace exactly that instance by the identity and leave the model as it was afterwards.

The reference is mmpretrain's own ``VisionTransformer`` with the same weights and that layer
deleted from its ``layers`` (a plain ScaleNetViT, ``depth=1.0`` without adapters, has
mmpretrain's parameter names and function)."""
import pytest
import torch
from mmpretrain.models.backbones import VisionTransformer

from experiments.scalenet_evidence.instance_use import format_rows, skipping_instance
from scalenet_mm.models import ScaleNetViT

ARCH = dict(embed_dims=32, num_layers=3, num_heads=2, feedforward_channels=64)


def build_pair():
    torch.manual_seed(0)
    ours = ScaleNetViT(arch=ARCH, depth=1.0, adapter=None, img_size=28, patch_size=7,
                       in_channels=1)
    ours.init_weights()
    reference = VisionTransformer(arch=ARCH, img_size=28, patch_size=7, in_channels=1)
    reference.load_state_dict(ours.state_dict(), strict=True)
    ours.eval()
    reference.eval()  # (mmpretrain's ViT.train() returns None: no chaining)
    return ours, reference


@pytest.mark.parametrize('skipped', [0, 1, 2])
def test_skipping_an_instance_equals_the_vit_without_that_layer(skipped: int) -> None:
    ours, reference = build_pair()
    images = torch.randn(2, 1, 28, 28)
    with torch.no_grad():
        full = ours(images)[-1]
        assert torch.allclose(full, reference(images)[-1], atol=1e-5)
        del reference.layers[skipped]
        reference.out_indices = [len(reference.layers) - 1]
        with skipping_instance(ours, skipped):
            without = ours(images)[-1]
        assert torch.allclose(without, reference(images)[-1], atol=1e-5)
        assert not torch.allclose(without, full, atol=1e-3)
        # the hooks are gone afterwards
        assert torch.equal(ours(images)[-1], full)


def test_skipping_several_instances_equals_the_vit_without_those_layers() -> None:
    """The top-half measure skips a set of instances together: the result must be the
    reference ViT with all of those layers deleted."""
    ours, reference = build_pair()
    images = torch.randn(2, 1, 28, 28)
    with torch.no_grad():
        full = ours(images)[-1]
        del reference.layers[1:]
        reference.out_indices = [0]
        with skipping_instance(ours, range(1, 3)):
            without = ours(images)[-1]
        assert torch.allclose(without, reference(images)[-1], atol=1e-5)
        with skipping_instance(ours, 1):
            one_skipped = ours(images)[-1]
        assert not torch.allclose(without, one_skipped, atol=1e-3)
        assert torch.equal(ours(images)[-1], full)


def test_shared_block_is_skipped_only_for_the_named_use() -> None:
    """In a 2x model block 0 runs as instances 0 and 2; skipping instance 2 must keep 0."""
    torch.manual_seed(0)
    grown = ScaleNetViT(arch=dict(ARCH, num_layers=2), depth=2.0, adapter=None, img_size=28,
                        patch_size=7, in_channels=1)
    grown.init_weights()
    grown.eval()
    images = torch.randn(2, 1, 28, 28)
    calls = []
    handle = grown.layers[0].register_forward_hook(lambda m, a, o: calls.append(a[1]))
    with torch.no_grad(), skipping_instance(grown, 2):
        grown(images)
    handle.remove()
    assert calls == [grown.instances[0], grown.instances[2]]  # both uses still called
    with torch.no_grad():
        with skipping_instance(grown, 2):
            skipped = grown(images)[-1]
        with skipping_instance(grown, 0):
            other = grown(images)[-1]
    assert not torch.allclose(skipped, other, atol=1e-4)


def test_table_shows_the_cost_of_each_skip() -> None:
    table = format_rows([dict(run='a', full=88.0, skipped=[80.0, 88.5], cost=[8.0, -0.5]),
                         dict(run='b', full=87.0, skipped=[70.0], cost=[17.0])])
    assert '| a | 88.00 | -8.00 | +0.50 |' in table and '| b | 87.00 | -17.00 |  |' in table


def test_table_shows_the_cost_of_skipping_the_top_half_where_measured() -> None:
    table = format_rows([dict(run='g', full=89.0, skipped=[40.0, 85.0, 88.5, 88.0],
                              cost=[49.0, 4.0, 0.5, 1.0], skipped_top_half=86.0,
                              cost_top_half=3.0),
                         dict(run='b', full=88.0, skipped=[40.0, 45.0], cost=[48.0, 43.0],
                              skipped_top_half=None, cost_top_half=None)])
    assert 'skip top half |' in table
    assert '| g | 89.00 | -49.00 | -4.00 | -0.50 | -1.00 | -3.00 |' in table
    assert '| b | 88.00 | -48.00 | -43.00 |  |  |  |' in table


def test_relative_update_is_zero_for_a_closed_gate_and_reads_the_stream() -> None:
    """Inserted instances with zero gates add nothing (update 0); the originals do; the
    stream each instance reads is the previous instance's output."""
    from experiments.scalenet_evidence.instance_use import relative_updates
    torch.manual_seed(0)
    grown = ScaleNetViT(arch=dict(ARCH, num_layers=2), depth=2.0, adapter=None, img_size=28,
                        patch_size=7, in_channels=1, gate_inserted=True)
    grown.init_weights()
    grown.eval()
    images = torch.randn(3, 1, 28, 28)
    outputs = []
    handle = grown.layers[0].register_forward_hook(lambda m, a, o: outputs.append((a[0], o)))
    measures = relative_updates(grown, images)
    handle.remove()
    assert measures['update'][2] == 0.0 and measures['update'][3] == 0.0
    assert measures['update'][0] > 0.01 and measures['update'][1] > 0.01
    x_in, x_out = outputs[0]  # instance 0, the first use of block 0
    assert measures['stream'][0] == pytest.approx(float(x_in.norm(dim=-1).mean()), rel=1e-6)
    expected = float(((x_out - x_in).norm(dim=-1) / x_in.norm(dim=-1)).mean())
    assert measures['update'][0] == pytest.approx(expected, rel=1e-6)
    # instance 2 (zero gate) passes its input through: instance 3 reads what instance 2 read
    assert measures['stream'][3] == pytest.approx(measures['stream'][2], rel=1e-6)


def test_lora_deltas_are_zero_at_the_start_and_read_each_instance_and_target() -> None:
    from experiments.scalenet_evidence.instance_use import format_rows, lora_deltas
    torch.manual_seed(0)
    grown = ScaleNetViT(arch=dict(ARCH, num_layers=2), depth=2.0, img_size=28, patch_size=7,
                        in_channels=1, adapter=dict(type='lora', rank=2))
    grown.init_weights()
    start = lora_deltas(grown)
    assert len(start) == 4 and all(set(d) == {'qkv', 'proj', 'fc1', 'fc2'} for d in start)
    assert all(v == 0.0 for d in start for v in d.values())  # B is zero-initialised
    lora = grown.instances[3].lora['fc2']  # instance 3 runs block 1
    with torch.no_grad():
        lora.lora_B.normal_()
    deltas = lora_deltas(grown)
    with torch.no_grad():
        expected = float(lora.delta_weight().norm() / grown.layers[1].ffn.fc2.weight.norm())
    assert deltas[3]['fc2'] == pytest.approx(expected, rel=1e-6) and expected > 0
    assert all(v == 0.0 for i, d in enumerate(deltas) for t, v in d.items() if (i, t) != (3, 'fc2'))
    table = format_rows([dict(run='r', full=1.0, skipped=[0.0] * 4, cost=[1.0] * 4,
                              lora_delta=deltas)])
    assert f'fc2 {expected:.3f}' in table and 'LoRA delta / W, instance 3' in table
    # without LoRA: no third table
    plain = ScaleNetViT(arch=dict(ARCH, num_layers=2), depth=2.0, adapter=None, img_size=28,
                        patch_size=7, in_channels=1)
    assert lora_deltas(plain) == [{}, {}, {}, {}]
    assert 'LoRA delta' not in format_rows([dict(run='p', full=1.0, skipped=[0.0], cost=[1.0],
                                                 lora_delta=[{}])])


def test_runs_of_the_same_arm_from_two_experiments_keep_their_own_rows() -> None:
    """The same arm of two work dirs (``e6/runs/scalenet_seed0``, ``e12/runs/...``) gets a
    label each, and every table keeps a row for each (none overwrites the other)."""
    from experiments.scalenet_evidence.instance_use import run_label
    dirs = ['w/e6/runs/scalenet_seed0', 'w/e12/runs/scalenet_seed0/', 'w/e6/runs/base_seed0']
    labels = [run_label(d, dirs) for d in dirs]
    assert labels == ['e6/scalenet_seed0', 'e12/scalenet_seed0', 'base_seed0']
    rows = [dict(run=label, full=1.0, skipped=[0.0] * 2, cost=[1.0] * 2, update=[value] * 2,
                 stream=[1.0] * 2, lora_delta=[{'qkv': value}] * 2)
            for label, value in zip(labels[:2], (0.25, 0.75))]
    table = format_rows(rows)
    assert '| e6/scalenet_seed0 | 0.250 (1.0) |' in table
    assert '| e12/scalenet_seed0 | 0.750 (1.0) |' in table
    assert '| e6/scalenet_seed0 | qkv 0.250 |' in table and '| e12/scalenet_seed0 | qkv 0.750 |' in table
