"""The model families a benchmark can compare, behind one dispatch.

* ``vit``  -- ScaleNetViT against plain ViTs of the same depth (:mod:`.models`);
* ``swin`` -- ScaleNetSwin against plain Swins of the same per-stage depths
  (:mod:`.swin_models`).

Both families build the same model names (``scalenet``, ``mmpretrain``, ``timm``,
``pretrained``, ``exported``) with the same reference (``mmpretrain``), so everything after
the build (timing, memory, sizes, ratios, tables) is family-blind. What differs is here:
the default arch, how ``--arch`` parses, how arch and depth are validated, the ``shape`` a
result records, and the builder. The benchmark process (:func:`run_benchmark`), its
validation and the worker processes (:func:`benchmarks.harness.timing.build_train_step`)
all go through :func:`build_models` / :func:`resolve_shape`.
"""
from typing import Any, Dict, Sequence, Union

import torch.nn as nn

ArchSpec = Union[str, Dict[str, Any]]
DepthSpec = Union[float, Sequence[int]]

FAMILIES = ('vit', 'swin')
#: The arch benchmarked when none is given.
DEFAULT_ARCH: Dict[str, str] = dict(vit='deit-small', swin='tiny')


def check_family(family: str) -> str:
    """``family`` itself, or ValueError naming it and the known families."""
    if family not in FAMILIES:
        raise ValueError(f'family={family!r} is unknown; choose from {list(FAMILIES)}')
    return family


def default_arch(family: str) -> str:
    """The arch of ``family`` benchmarked when none is given (``deit-small``, ``tiny``)."""
    return DEFAULT_ARCH[check_family(family)]


def parse_arch(family: str, text: str) -> ArchSpec:
    """``--arch`` as typed on a command line, for ``family`` (ValueError naming a bad one)."""
    if check_family(family) == 'swin':
        from .swin_models import parse_arch as parse
    else:
        from .models import parse_arch as parse
    return parse(text)


def resolve_shape(family: str, arch: ArchSpec, depth: DepthSpec) -> Dict[str, Any]:
    """The shape a result records (``result['shape']``); ValueError for a bad arch or depth.

    ViT: ``embed_dims, num_layers, num_heads, feedforward_channels, scaled_layers``.
    Swin: ``embed_dims, depths, num_heads`` (per stage, pretrained), ``scaled_depths``
    (instances per stage), ``stage_widths`` and ``num_layers`` / ``scaled_layers`` (blocks
    summed over the stages). Both carry ``family``.
    """
    if check_family(family) == 'swin':
        from .swin_models import resolve_arch, scaled_depths
        settings = resolve_arch(arch)
        try:
            deep = scaled_depths(arch, list(depth) if isinstance(depth, (list, tuple))
                                 else depth)
        except TypeError as error:  # an int depth: ambiguous over several stages
            raise ValueError(str(error)) from error
        widths = [settings['embed_dims'] * 2**s for s in range(len(settings['depths']))]
        return dict(family=family, **settings, scaled_depths=deep, stage_widths=widths,
                    num_layers=sum(settings['depths']), scaled_layers=sum(deep))
    from .models import resolve_arch, scaled_depth
    return dict(family=family, **resolve_arch(arch), scaled_layers=scaled_depth(arch, depth))


def build_models(family: str, names: Sequence[str], arch: ArchSpec, depth: DepthSpec,
                 img_size: int, num_classes: int = 1000, seed: int = 0) -> Dict[str, nn.Module]:
    """The named benchmark models of ``family`` as classifiers on CPU in fp32."""
    if check_family(family) == 'swin':
        from .swin_models import build_swin_models
        return build_swin_models(names, arch, depth, img_size, num_classes, seed)
    from .models import build_models as build_vit_models
    return build_vit_models(names, arch, depth, img_size, num_classes, seed)


def _dashed(values: Sequence[int]) -> str:
    return '-'.join(str(v) for v in values)


def describe_shape(shape: Dict[str, Any]) -> str:
    """One line naming the family and the shape (the benchmark table's caption)."""
    if shape.get('family') == 'swin':
        return (f"family swin: embed_dims {shape['embed_dims']}, depths "
                f"{_dashed(shape['depths'])} -> {_dashed(shape['scaled_depths'])} blocks per "
                f"stage ({shape['num_layers']} -> {shape['scaled_layers']}), heads "
                f"{_dashed(shape['num_heads'])}, widths {_dashed(shape['stage_widths'])}")
    return (f"family vit: {shape['num_layers']} -> {shape['scaled_layers']} layers, width "
            f"{shape['embed_dims']}, {shape['num_heads']} heads, MLP "
            f"{shape['feedforward_channels']}")


def pretrained_label(shape: Dict[str, Any]) -> str:
    """The table's label of the ``pretrained`` row (its depth)."""
    if shape.get('family') == 'swin':
        return f"pretrained ({_dashed(shape['depths'])})"
    return f"pretrained (L={shape['num_layers']})"


def model_word(family: str) -> str:
    """What the plain models are called in printed ratio labels (``ViT`` / ``Swin``)."""
    return 'Swin' if family == 'swin' else 'ViT'
