"""The models a ScaleNet benchmark compares, built to one shape and wrapped as classifiers.

For a pretrained arch with L layers and a depth factor (L' = factor * L):

* ``scalenet``   -- :class:`ScaleNetViT` (L shared blocks, L' instances, default adapter);
* ``mmpretrain`` -- mmpretrain's ``VisionTransformer`` with L' unshared layers (the reference);
* ``timm``       -- timm's ``VisionTransformer`` with L' layers (fused attention);
* ``pretrained`` -- mmpretrain's ``VisionTransformer`` with the L pretrained layers;
* ``exported``   -- the ScaleNet model exported to a plain L'-layer mmpretrain ViT (LoRA
  folded, sharing undone): what a user deploys.

Every backbone gets the same linear head on its class token (``num_classes`` outputs), so a
training step (cross-entropy, backward, AdamW) means the same thing for all of them.
"""
import json
import logging
from contextlib import contextmanager
from typing import Any, Dict, Iterator, Optional, Sequence, Union

import torch
import torch.nn as nn

ArchSpec = Union[str, Dict[str, int]]

MODEL_NAMES = ('scalenet', 'mmpretrain', 'timm', 'pretrained', 'exported')
REFERENCE_MODEL = 'mmpretrain'
#: Models that are only deployed (no training step is measured for them).
INFERENCE_ONLY = ('exported', )


def resolve_arch(arch: ArchSpec) -> Dict[str, int]:
    """An arch name (``'deit-small'``) or dict -> ``embed_dims, num_layers, ...``, parsed as
    :class:`ScaleNetViT` parses it (ValueError naming a bad one)."""
    from scalenet_mm.models.backbones.scalenet_vit import ScaleNetViT
    return ScaleNetViT.parse_arch(arch)


def arch_from_text(text: str, example_name: str,
                   example_dict: str) -> Union[str, Dict[str, Any]]:
    """``--arch`` as typed: the name itself, or the dict a JSON text (``{...}``) decodes to.

    ``example_name`` and ``example_dict`` (JSON) are what the error message offers instead
    (each family has its own names and sizes).
    Raises ValueError naming the text and the expected form when the JSON does not parse.
    """
    if not text.strip().startswith('{'):
        return text
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(
            f'--arch {text!r} is not valid JSON ({error.msg} at character {error.pos}); '
            f'give a name such as {example_name} or a dict such as \'{example_dict}\'') from error


def parse_arch(text: str) -> ArchSpec:
    """``--arch`` as typed on a command line: a name, or a JSON dict of the four sizes.

    Raises ValueError naming the text and the expected form when the JSON does not parse or
    the name / dict is not an arch (checked by :func:`resolve_arch`).
    """
    arch = arch_from_text(text, 'deit-base', '{"embed_dims": 384, "num_layers": 12, '
                                             '"num_heads": 6, "feedforward_channels": 1536}')
    resolve_arch(arch)
    return arch


def scaled_depth(arch: ArchSpec, depth: float) -> int:
    """L' for a depth factor (``2.0``) or an explicit layer count (an int > the factor range)."""
    from scalenet_mm.method.layer_map import resolve_depth
    return resolve_depth(depth, resolve_arch(arch)['num_layers'])


class Classifier(nn.Module):
    """``backbone`` followed by a linear head on its pooled / class-token feature.

    mmpretrain backbones return a tuple of outputs (the last is used); timm's model built with
    ``num_classes=0`` returns the pooled feature directly.
    """

    def __init__(self, backbone: nn.Module, embed_dims: int, num_classes: int) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = nn.Linear(embed_dims, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = self.backbone(x)
        if isinstance(feats, (tuple, list)):
            feats = feats[-1]
        return self.head(feats)


def build_scalenet(arch: ArchSpec, depth: float, img_size: int,
                   adapter: Optional[Dict[str, Any]] = None,
                   perturb_adapters: bool = True) -> nn.Module:
    """ScaleNetViT with the default adapter (or ``adapter``).

    ``perturb_adapters`` gives LoRA ``B`` small random values: at init they are zero, and an
    exported / merged model would then trivially equal the unadapted one.
    """
    from scalenet_mm.models.backbones.scalenet_vit import DEFAULT_ADAPTER, ScaleNetViT
    backbone = ScaleNetViT(arch=resolve_arch(arch), depth=depth, img_size=img_size,
                           adapter=DEFAULT_ADAPTER if adapter is None else adapter)
    backbone.init_weights()
    if perturb_adapters:
        with torch.no_grad():
            for name, param in backbone.named_parameters():
                if name.endswith('lora_B'):
                    param.normal_(0, 1e-3)
    return backbone


def build_mmpretrain_vit(arch: ArchSpec, num_layers: int, img_size: int) -> nn.Module:
    """mmpretrain's ``VisionTransformer`` of ``arch``'s width, ``num_layers`` unshared layers."""
    from mmpretrain.models.backbones import VisionTransformer
    settings = dict(resolve_arch(arch), num_layers=num_layers)
    backbone = VisionTransformer(arch=settings, img_size=img_size)
    backbone.init_weights()
    return backbone


def build_timm_vit(arch: ArchSpec, num_layers: int, img_size: int) -> nn.Module:
    """timm's ``VisionTransformer`` of ``arch``'s width and ``num_layers`` layers, no head."""
    from timm.models.vision_transformer import VisionTransformer
    settings = resolve_arch(arch)
    return VisionTransformer(
        img_size=img_size, patch_size=16, embed_dim=settings['embed_dims'], depth=num_layers,
        num_heads=settings['num_heads'],
        mlp_ratio=settings['feedforward_channels'] / settings['embed_dims'], qkv_bias=True,
        num_classes=0, global_pool='token')


def build_exported(scalenet: nn.Module, arch: ArchSpec, img_size: int) -> nn.Module:
    """The plain mmpretrain ViT that ``scalenet`` exports to (loaded strictly)."""
    from mmpretrain.models.backbones import VisionTransformer

    from scalenet_mm.checkpoint import export_plain_state_dict
    settings = dict(resolve_arch(arch), num_layers=scalenet.depth)
    plain = VisionTransformer(arch=settings, img_size=img_size)
    plain.load_state_dict(export_plain_state_dict(scalenet, layout='mmpretrain'), strict=True)
    return plain


@contextmanager
def quiet_mmengine() -> Iterator[None]:
    """Silence mmengine's INFO log (``init_weights`` reports every tensor) while building."""
    from mmengine.logging import MMLogger
    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)


def build_models(names: Sequence[str], arch: ArchSpec, depth: float, img_size: int,
                 num_classes: int = 1000, seed: int = 0) -> Dict[str, Classifier]:
    """Build the named models (see :data:`MODEL_NAMES`) as classifiers on CPU in fp32.

    ``exported`` is derived from ``scalenet`` (built for it if not requested) and shares its
    head's values, so both compute the same function.
    """
    unknown = sorted(set(names) - set(MODEL_NAMES))
    if unknown:
        raise ValueError(f'unknown models {unknown}; choose from {list(MODEL_NAMES)}')
    with quiet_mmengine():
        return _build_models(names, arch, depth, img_size, num_classes, seed)


def _build_models(names: Sequence[str], arch: ArchSpec, depth: float, img_size: int,
                  num_classes: int, seed: int) -> Dict[str, Classifier]:
    torch.manual_seed(seed)
    settings = resolve_arch(arch)
    width, layers = settings['embed_dims'], settings['num_layers']
    deep = scaled_depth(arch, depth)
    models: Dict[str, Classifier] = {}
    scalenet: Optional[Classifier] = None
    if 'scalenet' in names or 'exported' in names:
        scalenet = Classifier(build_scalenet(arch, depth, img_size), width, num_classes)
    for name in names:
        if name == 'scalenet':
            models[name] = scalenet
        elif name == 'mmpretrain':
            models[name] = Classifier(build_mmpretrain_vit(arch, deep, img_size), width,
                                      num_classes)
        elif name == 'timm':
            models[name] = Classifier(build_timm_vit(arch, deep, img_size), width, num_classes)
        elif name == 'pretrained':
            models[name] = Classifier(build_mmpretrain_vit(arch, layers, img_size), width,
                                      num_classes)
        elif name == 'exported':
            exported = Classifier(build_exported(scalenet.backbone, arch, img_size), width,
                                  num_classes)
            exported.head.load_state_dict(scalenet.head.state_dict())
            models[name] = exported
    return models
