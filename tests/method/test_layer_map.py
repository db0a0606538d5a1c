"""Layer maps: the paper's cyclic map, the interleaved variant, explicit lists and their errors."""
import pytest

import method_import  # noqa: F401  (scalenet_mm.method without OpenMMLab, see there)
from scalenet_mm.method import (build_layer_map, first_use, inserted_instances, last_use,
                                resolve_depth, shared_use)


def test_cyclic_runs_all_layers_then_all_again():
    assert build_layer_map('cyclic', 3, 6) == [0, 1, 2, 0, 1, 2]
    assert build_layer_map('cyclic', 3, 7) == [0, 1, 2, 0, 1, 2, 0]


def test_interleave_repeats_each_layer_in_place():
    assert build_layer_map('interleave', 3, 6) == [0, 0, 1, 1, 2, 2]
    # 7 instances over 3 layers: the first layer gets the extra repeat.
    assert build_layer_map('interleave', 3, 7) == [0, 0, 0, 1, 1, 2, 2]


def test_explicit_list_is_kept():
    assert build_layer_map([0, 1, 1, 2], 3, 4) == [0, 1, 1, 2]


def test_depth_from_scale_factor():
    assert resolve_depth(2.0, 12) == 24
    assert resolve_depth(1.5, 12) == 18
    assert resolve_depth(24, 12) == 24


@pytest.mark.parametrize('depth, match', [
    (11, 'depth=11 is smaller'),
    (0.5, 'depth=6 is smaller'),
    (1.3, 'whole number'),
    ('24', 'must be an int'),
])
def test_bad_depth_names_the_value(depth, match):
    with pytest.raises((ValueError, TypeError), match=match):
        resolve_depth(depth, 12)


@pytest.mark.parametrize('layer_map, match', [
    ('spiral', "layer_map='spiral' is not a known map"),
    ([0, 1, 2], 'has 3 entries but depth is 4'),
    ([0, 1, 2, 3], r'layer_map\[3\]=3 is out of range'),
    ([0, 1, -1, 2], r'layer_map\[2\]=-1 is out of range'),
    ([0, 0, 1, 1], r'never uses pretrained layers \[2\]'),
])
def test_bad_layer_map_names_the_value(layer_map, match):
    with pytest.raises(ValueError, match=match):
        build_layer_map(layer_map, 3, 4)


def test_first_use_and_inserted_instances():
    cyclic = build_layer_map('cyclic', 3, 6)
    assert first_use(cyclic) == [0, 1, 2]
    assert inserted_instances(cyclic) == [False, False, False, True, True, True]
    interleaved = build_layer_map('interleave', 3, 6)
    assert first_use(interleaved) == [0, 2, 4]
    assert inserted_instances(interleaved) == [False, True, False, True, False, True]


def test_last_use_and_the_shared_use_rule():
    cyclic = build_layer_map('cyclic', 3, 7)  # 0 1 2 0 1 2 0
    assert last_use(cyclic) == [6, 4, 5]
    assert last_use(build_layer_map('interleave', 3, 6)) == [1, 3, 5]
    assert shared_use(cyclic, 'first') == first_use(cyclic)
    assert shared_use(cyclic, 'last') == last_use(cyclic)
    with pytest.raises(ValueError, match="shared_depth='middle'"):
        shared_use(cyclic, 'middle')
