"""Layer maps: which pretrained layer each of the L' scaled layer instances uses.

ScaleNet grows a pretrained L-layer ViT to L' >= L layers whose weights are *shared* with the
pretrained ones: instance ``i`` runs the block of source layer ``g(i)``. The paper's common map
is cyclic (``g(i) = i % L``: blocks 0..L-1, then 0..L-1 again). This module turns the user's
``depth`` and ``layer_map`` settings into a validated list of source indices, and answers the
questions other parts ask of it (which instance first uses a layer, which are "inserted").
"""
from typing import List, Sequence, Union

LAYER_MAP_KINDS = ('cyclic', 'interleave')

DepthSpec = Union[int, float]
LayerMapSpec = Union[str, Sequence[int]]


def resolve_depth(depth: DepthSpec, num_source_layers: int) -> int:
    """Return the scaled depth L' from an explicit depth (int) or a scale factor (float).

    ``depth=24`` means 24 instances; ``depth=2.0`` means ``2.0 * L`` instances (it must come
    out whole). L' must be at least L: ScaleNet only adds layers.
    """
    if isinstance(depth, bool) or not isinstance(depth, (int, float)):
        raise TypeError(f'depth must be an int (number of layers) or a float (scale factor), '
                        f'got {depth!r} of type {type(depth).__name__}')
    if isinstance(depth, float):
        scaled = depth * num_source_layers
        if abs(scaled - round(scaled)) > 1e-6:
            raise ValueError(f'depth={depth} as a scale factor gives {scaled} layers for '
                             f'{num_source_layers} pretrained layers; it must give a whole number')
        depth = int(round(scaled))
    if depth < num_source_layers:
        raise ValueError(f'depth={depth} is smaller than the pretrained model\'s {num_source_layers} '
                         f'layers; ScaleNet only adds layers, so depth must be >= {num_source_layers} '
                         f'(or a scale factor >= 1.0)')
    return depth


def build_layer_map(layer_map: LayerMapSpec, num_source_layers: int, depth: int) -> List[int]:
    """Return the source-layer index of each of the ``depth`` instances.

    Args:
        layer_map: ``'cyclic'`` (0..L-1, 0..L-1, ...), ``'interleave'`` (each layer repeated in
            place: 0,0,1,1,... for 2x; depth need not be a multiple of L, the first layers then
            get the extra repeat), or an explicit list of ``depth`` indices in ``[0, L)``.
        num_source_layers: L, the pretrained model's layer count.
        depth: L', the scaled depth.

    Raises:
        ValueError: an unknown map name, a list of the wrong length, an index out of range, or
            a list that leaves a pretrained layer unused (its weights would be dead parameters).
    """
    if isinstance(layer_map, str):
        if layer_map == 'cyclic':
            return [i % num_source_layers for i in range(depth)]
        if layer_map == 'interleave':
            repeats, extra = divmod(depth, num_source_layers)
            out: List[int] = []
            for src in range(num_source_layers):
                out.extend([src] * (repeats + (1 if src < extra else 0)))
            return out
        raise ValueError(f'layer_map={layer_map!r} is not a known map; use one of '
                         f'{LAYER_MAP_KINDS} or an explicit list of {depth} source-layer indices')
    indices = list(layer_map)
    if len(indices) != depth:
        raise ValueError(f'layer_map has {len(indices)} entries but depth is {depth}; an explicit '
                         f'layer_map needs exactly one source-layer index per scaled layer')
    for pos, src in enumerate(indices):
        if isinstance(src, bool) or not isinstance(src, int) or not 0 <= src < num_source_layers:
            raise ValueError(f'layer_map[{pos}]={src!r} is out of range: source-layer indices must be '
                             f'integers in [0, {num_source_layers - 1}] (the pretrained model has '
                             f'{num_source_layers} layers)')
    unused = sorted(set(range(num_source_layers)) - set(indices))
    if unused:
        raise ValueError(f'layer_map={indices} never uses pretrained layers {unused}; every '
                         f'pretrained layer must appear at least once')
    return indices


def first_use(layer_map: Sequence[int]) -> List[int]:
    """Return, for every source layer, the first instance that uses it (its "original" position)."""
    first = {}
    for inst, src in enumerate(layer_map):
        first.setdefault(src, inst)
    return [first[src] for src in range(len(first))]


def last_use(layer_map: Sequence[int]) -> List[int]:
    """Return, for every source layer, the last instance that uses it.

    Under a cyclic map ``g(i) = i % L`` the last use of layer ``d`` is ``d + (k - 1) L``: it lies
    as many instances below the top as layer ``d`` lies below the top of the L-layer model.
    """
    last = {}
    for inst, src in enumerate(layer_map):
        last[src] = inst
    return [last[src] for src in range(len(last))]


#: Which use of a shared tensor decides its layer-wise lr-decay depth (``get_layer_depth``).
SHARED_DEPTH_RULES = ('first', 'last')


def shared_use(layer_map: Sequence[int], rule: str) -> List[int]:
    """The instance whose depth a shared source layer takes: its ``'first'`` or ``'last'`` use."""
    if rule == 'first':
        return first_use(layer_map)
    if rule == 'last':
        return last_use(layer_map)
    raise ValueError(f'shared_depth={rule!r} is not a rule; use one of {SHARED_DEPTH_RULES}')


def inserted_instances(layer_map: Sequence[int]) -> List[bool]:
    """Return a flag per instance: True when the instance is not its source layer's first use.

    The first use of each layer reproduces the pretrained model; the others are the layers
    ScaleNet inserted (the ones a function-preserving gate starts at zero).
    """
    originals = set(first_use(layer_map))
    return [inst not in originals for inst in range(len(layer_map))]
