"""The models a ScaleNet-Swin benchmark row compares, built to one shape and wrapped as
classifiers (the Swin counterpart of :mod:`benchmarks.harness.models`).

For a pretrained Swin arch with ``d_s`` blocks in stage ``s`` and a depth (a factor, or
per-stage instance counts ``D_s``; Swin-T 2x: ``D = 4, 4, 12, 4``):

* ``scalenet``   -- :class:`ScaleNetSwin` (``d_s`` shared blocks, ``D_s`` instances per stage,
  the default rank-10 LoRA on qkv / proj / fc1 / fc2);
* ``mmpretrain`` -- mmpretrain's ``SwinTransformer`` with ``D_s`` unshared blocks per stage
  (the reference);
* ``timm``       -- timm's ``SwinTransformer`` with the same per-stage depths;
* ``pretrained`` -- mmpretrain's ``SwinTransformer`` with the ``d_s`` pretrained blocks;
* ``exported``   -- the ScaleNet model exported to a plain mmpretrain ``SwinTransformer`` of
  depths ``D`` (LoRA folded, sharing undone): what a user deploys.

Every backbone gets the same head: global average pooling of its last stage and one linear
layer (``num_classes`` outputs), mmpretrain's ``GlobalAveragePooling`` + ``LinearClsHead`` and
timm's ``global_pool='avg'`` + ``head.fc``. Drop path is 0 everywhere (as in
:mod:`benchmarks.harness.models`), so train-mode and eval-mode forwards compute the same
function and the timed training steps do the same work.
"""
from typing import Any, Dict, List, Optional, Sequence, Union

import torch
import torch.nn as nn

from .models import arch_from_text, quiet_mmengine

ArchSpec = Union[str, Dict[str, Any]]
DepthSpec = Union[float, Sequence[int]]

MODEL_NAMES = ('scalenet', 'mmpretrain', 'timm', 'pretrained', 'exported')
REFERENCE_MODEL = 'mmpretrain'
#: Models that are only deployed (no training step is measured for them).
INFERENCE_ONLY = ('exported', )
#: Swin-T's geometry (what mmpretrain's and timm's ``swin-tiny`` use at 224 px).
PATCH_SIZE = 4
WINDOW_SIZE = 7


def resolve_arch(arch: ArchSpec) -> Dict[str, Any]:
    """A Swin arch name (``'tiny'``, ``'t'``, ...) or dict -> ``embed_dims, depths,
    num_heads``, parsed as :class:`ScaleNetSwin` parses it (ValueError naming a bad one)."""
    from scalenet_mm.models.backbones.scalenet_swin import ScaleNetSwin
    settings = ScaleNetSwin.parse_arch(arch)
    return dict(embed_dims=int(settings['embed_dims']),
                depths=[int(d) for d in settings['depths']],
                num_heads=[int(h) for h in settings['num_heads']])


def parse_arch(text: str) -> ArchSpec:
    """``--arch`` as typed on a command line: a Swin name, or a JSON dict of the three sizes
    (ValueError naming the text when it does not parse or is not a Swin arch)."""
    arch = arch_from_text(text, 'tiny', '{"embed_dims": 96, "depths": [2, 2, 6, 2], '
                                        '"num_heads": [3, 6, 12, 24]}')
    resolve_arch(arch)
    return arch


def scaled_depths(arch: ArchSpec, depth: DepthSpec) -> List[int]:
    """``D_s`` per stage for a depth factor (``2.0``) or per-stage counts, as ScaleNetSwin
    resolves it (ValueError for a factor that is not a whole number of instances per stage)."""
    from scalenet_mm.method import resolve_stage_depths
    return resolve_stage_depths(depth, resolve_arch(arch)['depths'])


def num_features(arch: ArchSpec) -> int:
    """Channels of the last stage (the head's input): ``embed_dims * 2**(stages - 1)``."""
    settings = resolve_arch(arch)
    return settings['embed_dims'] * 2**(len(settings['depths']) - 1)


class SwinClassifier(nn.Module):
    """``backbone``, global average pooling of its last output, a linear head.

    mmpretrain Swins return a tuple of ``(B, C, H, W)`` maps (the last is pooled); timm's
    model built with ``num_classes=0`` returns the pooled ``(B, C)`` feature directly.
    """

    def __init__(self, backbone: nn.Module, channels: int, num_classes: int) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = nn.Linear(channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = self.backbone(x)
        if isinstance(feats, (tuple, list)):
            feats = feats[-1]
        if feats.ndim == 4:
            feats = feats.mean(dim=(2, 3))
        return self.head(feats)


def build_scalenet_swin(arch: ArchSpec, depth: DepthSpec, img_size: int,
                        adapter: Optional[Dict[str, Any]] = None, perturb_adapters: bool = True,
                        patch_size: int = PATCH_SIZE, window_size: int = WINDOW_SIZE) -> nn.Module:
    """ScaleNetSwin with the default adapter (or ``adapter``).

    ``perturb_adapters`` gives LoRA ``B`` small random values: at init they are zero, and an
    exported / merged model would then trivially equal the unadapted one.
    """
    from scalenet_mm.models.backbones.scalenet_swin import DEFAULT_ADAPTER, ScaleNetSwin
    depth = list(depth) if isinstance(depth, (list, tuple)) else depth
    backbone = ScaleNetSwin(arch=resolve_arch(arch), depth=depth, img_size=img_size,
                            patch_size=patch_size, window_size=window_size, drop_path_rate=0.,
                            adapter=DEFAULT_ADAPTER if adapter is None else adapter)
    backbone.init_weights()
    if perturb_adapters:
        with torch.no_grad():
            for name, param in backbone.named_parameters():
                if name.endswith('lora_B'):
                    param.normal_(0, 1e-3)
    return backbone


def build_mmpretrain_swin(arch: ArchSpec, depths: Sequence[int], img_size: int,
                          patch_size: int = PATCH_SIZE,
                          window_size: int = WINDOW_SIZE) -> nn.Module:
    """mmpretrain's ``SwinTransformer`` of ``arch``'s widths with ``depths`` blocks per stage."""
    from mmpretrain.models.backbones import SwinTransformer
    settings = dict(resolve_arch(arch), depths=[int(d) for d in depths])
    backbone = SwinTransformer(arch=settings, img_size=img_size, patch_size=patch_size,
                               window_size=window_size, drop_path_rate=0.)
    backbone.init_weights()
    return backbone


def build_timm_swin(arch: ArchSpec, depths: Sequence[int], img_size: int,
                    patch_size: int = PATCH_SIZE, window_size: int = WINDOW_SIZE) -> nn.Module:
    """timm's ``SwinTransformer`` of ``arch``'s widths and ``depths``, no head (pooled output)."""
    from timm.models.swin_transformer import SwinTransformer
    settings = resolve_arch(arch)
    return SwinTransformer(img_size=img_size, patch_size=patch_size, window_size=window_size,
                           embed_dim=settings['embed_dims'], depths=tuple(int(d) for d in depths),
                           num_heads=tuple(settings['num_heads']), mlp_ratio=4., qkv_bias=True,
                           drop_path_rate=0., num_classes=0, global_pool='avg')


def build_exported_swin(scalenet: nn.Module) -> nn.Module:
    """The plain mmpretrain ``SwinTransformer`` that ``scalenet`` exports to (loaded strictly;
    its config from :func:`scalenet_mm.checkpoint.plain_backbone_config`)."""
    from mmpretrain.models.backbones import SwinTransformer

    from scalenet_mm.checkpoint import export_plain_state_dict, plain_backbone_config
    cfg = plain_backbone_config(scalenet)
    cfg.pop('type')
    plain = SwinTransformer(**cfg, drop_path_rate=0.)
    plain.load_state_dict(export_plain_state_dict(scalenet, layout='mmpretrain'), strict=True)
    return plain


def build_swin_models(names: Sequence[str], arch: ArchSpec, depth: DepthSpec, img_size: int,
                      num_classes: int = 1000, seed: int = 0, patch_size: int = PATCH_SIZE,
                      window_size: int = WINDOW_SIZE) -> Dict[str, SwinClassifier]:
    """Build the named models (see :data:`MODEL_NAMES`) as classifiers on CPU in fp32.

    ``exported`` is derived from ``scalenet`` (built for it if not requested) and shares its
    head's values, so both compute the same function (the merged ScaleNet's).
    """
    unknown = sorted(set(names) - set(MODEL_NAMES))
    if unknown or not names:
        raise ValueError(f'unknown models {unknown or list(names)}; choose from '
                         f'{list(MODEL_NAMES)}')
    with quiet_mmengine():
        return _build(names, arch, depth, img_size, num_classes, seed, patch_size, window_size)


def _build(names: Sequence[str], arch: ArchSpec, depth: DepthSpec, img_size: int,
           num_classes: int, seed: int, patch_size: int,
           window_size: int) -> Dict[str, SwinClassifier]:
    torch.manual_seed(seed)
    geometry = dict(patch_size=patch_size, window_size=window_size)
    settings = resolve_arch(arch)
    channels = num_features(arch)
    deep = scaled_depths(arch, depth)
    models: Dict[str, SwinClassifier] = {}
    scalenet: Optional[SwinClassifier] = None
    if 'scalenet' in names or 'exported' in names:
        scalenet = SwinClassifier(build_scalenet_swin(arch, deep, img_size, **geometry),
                                  channels, num_classes)
    for name in names:
        if name == 'scalenet':
            models[name] = scalenet
        elif name == 'mmpretrain':
            models[name] = SwinClassifier(build_mmpretrain_swin(arch, deep, img_size, **geometry),
                                          channels, num_classes)
        elif name == 'timm':
            models[name] = SwinClassifier(build_timm_swin(arch, deep, img_size, **geometry),
                                          channels, num_classes)
        elif name == 'pretrained':
            models[name] = SwinClassifier(
                build_mmpretrain_swin(arch, settings['depths'], img_size, **geometry), channels,
                num_classes)
        elif name == 'exported':
            exported = SwinClassifier(build_exported_swin(scalenet.backbone), channels,
                                      num_classes)
            exported.head.load_state_dict(scalenet.head.state_dict())
            models[name] = exported
    return models
