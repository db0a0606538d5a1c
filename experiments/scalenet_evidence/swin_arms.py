"""The Swin arms of the Fashion-MNIST experiment: a small Swin, grown 2x with ScaleNet.

Three arms in the group ``'swin'`` (``Arm.family == 'swin'``), run only when named
(``experiments/reproduce_scalenet.py --arms swin_pretrain swin_scalenet swin_continue``), so
the default ViT experiment and its budget are unchanged:

- ``swin_pretrain``: the base, ``configs/cls/fashion_mnist/swin_fmnist.py`` (a plain Swin of
  two stages, 2 blocks each, patch 2, window 7), E epochs from scratch; its final weights are
  published weights-only (``published/swin.pth``) like the ViT base's;
- ``swin_scalenet``: ``scalenet_swin_2x_fmnist.py``, the base's blocks run ``scale`` times per
  stage (cyclic map, LoRA of rank ``lora_rank`` on every instance), E' epochs from the base;
- ``swin_continue``: ``swin_continue_fmnist.py``, the base trained E' more epochs, not grown.

The Swin's widths, blocks and patch are its config's: the ViT sizes of :class:`Settings`
(``layers``, ``embed_dims``, ``num_heads``, ``feedforward_channels``, ``patch_size``) do not
apply, and a change of them does not make a Swin run stale. Everything else is shared with the
ViT arms: data subsets, batch, seeds, ``lr`` / ``growth_lr``, E / E', ``scale`` and
``lora_rank``. This module holds the Swin side of the option mapping, the fingerprint, the layer
counts and the claims; :mod:`.experiment` dispatches to it on ``arm.family``.
"""
import hashlib
import json
import os.path as osp
from dataclasses import asdict
from functools import lru_cache
from typing import Any, Dict, List, Tuple

#: The family name of the Swin arms (``Arm.family``) and their ``Arm.group``.
FAMILY = 'swin'
#: The weights-only file the Swin base run publishes (under ``<run>/published/``).
PUBLISHED_NAME = 'swin.pth'
#: The :class:`Settings` fields that size the ViT only.
VIT_ONLY_KEYS = ('layers', 'embed_dims', 'num_heads', 'feedforward_channels', 'patch_size')
#: (arm, compared arm, kind, claim) as :data:`.report.CLAIMS`, checked when a Swin arm ran.
SWIN_CLAIMS: Tuple[Tuple[str, str, str, str], ...] = (
    ('swin_scalenet', 'swin_pretrain', 'beats',
     "Swin: ScaleNet 2x (E' epochs from the base) beats the base Swin it grew from (E epochs)"),
    ('swin_scalenet', 'swin_continue', 'beats',
     'Swin: ScaleNet 2x beats the base Swin trained as long without growing'),
)
#: Line styles of the Swin arms in ``accuracy.png``.
STYLES = {
    'swin_pretrain': dict(color='tab:brown', linestyle=':'),
    'swin_scalenet': dict(color='tab:brown', linewidth=2.2),
    'swin_continue': dict(color='tab:brown', linestyle='-.'),
}


def is_swin(arm: Any) -> bool:
    return getattr(arm, 'family', 'vit') == FAMILY


@lru_cache(maxsize=None)
def stage_depths(config: str) -> Tuple[int, ...]:
    """Blocks per stage of the Swin a config builds (its ``arch`` dict; ``depth=1.0`` base)."""
    from mmengine.config import Config
    arch = Config.fromfile(config).model.backbone.arch
    return tuple(int(d) for d in arch['depths'])


def check_scale(settings: Any, config: str) -> None:
    """Raise ValueError when ``settings.scale`` gives no whole number of instances per stage."""
    depths = stage_depths(config)
    instances = [settings.scale * d for d in depths]
    if any(abs(n - round(n)) > 1e-9 for n in instances):
        raise ValueError(f'scale={settings.scale} cannot grow the Swin of {osp.basename(config)} '
                         f'(blocks per stage {list(depths)}): every stage needs a whole number '
                         f'of instances, got {instances}')


def common_options(settings: Any, seed: int, data_root: str) -> Dict[str, Any]:
    """``--cfg-options`` shared by every Swin run of a seed: data, batch, lr, seed (no sizes:
    the Swin's are its config's)."""
    from .experiment import subset
    options: Dict[str, Any] = {
        'train_dataloader.batch_size': settings.batch_size,
        'optim_wrapper.optimizer.lr': settings.lr,
        'randomness.seed': seed,
        'train_dataloader.dataset.indices': subset(settings.train_size),
        'val_dataloader.dataset.indices': subset(settings.val_size),
        'test_dataloader.dataset.indices': subset(settings.test_size),
    }
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        options[f'{loader}.dataset.data_root'] = data_root
    return options


def arm_options(arm: Any, settings: Any) -> Dict[str, Any]:
    """``--cfg-options`` of a Swin arm: its epochs, depth factor, LoRA rank and lr."""
    from .experiment import arm_epochs
    options: Dict[str, Any] = {'train_cfg.max_epochs': arm_epochs(arm, settings)}
    if arm.grown:
        options['model.backbone.depth'] = float(settings.scale)
    if arm.lora:
        options['model.backbone.adapter.rank'] = arm.rank or settings.lora_rank
    if arm.init != 'scratch':
        options['optim_wrapper.optimizer.lr'] = settings.growth_lr
    return options


def arm_layers(arm: Any, settings: Any, config: str) -> Tuple[int, int]:
    """``(blocks run, blocks stored)`` over all stages: the grown arm runs ``scale`` times its
    stored blocks."""
    stored = sum(stage_depths(config))
    return (int(round(settings.scale * stored)) if arm.grown else stored), stored


def fingerprint(settings: Any, arm: Any) -> str:
    """:meth:`Settings.fingerprint` of a Swin arm: without the ViT sizes and the deep ViT's
    ``scratch_epochs``, and for the base without the growth arms' values."""
    values = asdict(settings)
    # growth_drop_path is a ViT diagnosis (the Swin configs set their own drop path).
    for key in ('seeds', 'test_size', 'train_eval_size', 'scratch_epochs', 'growth_drop_path',
                *VIT_ONLY_KEYS):
        values.pop(key, None)
    if arm.init == 'scratch':
        for key in ('growth_lr', 'epochs', 'lora_rank', 'scale'):
            values.pop(key, None)
    values['family'] = FAMILY
    return hashlib.sha1(json.dumps(values, sort_keys=True).encode()).hexdigest()[:12]


def only_swin(summaries: Dict[str, Any]) -> bool:
    """Whether every summarised arm is a Swin arm (the ViT claims and regime checks, which read
    ViT arms, are then left out of the report); False when nothing ran."""
    return bool(summaries) and all(is_swin(summary.arm) for summary in summaries.values())


def claims_for(names: List[str]) -> Tuple[Tuple[str, str, str, str], ...]:
    """The Swin claims when any Swin arm is among ``names`` (else none: the ViT report is
    unchanged)."""
    return SWIN_CLAIMS if any(name.startswith('swin_') for name in names) else ()


def describe(config: str) -> str:
    """The report's line on the Swin arms' sizes."""
    from mmengine.config import Config
    backbone = Config.fromfile(config).model.backbone
    arch = backbone.arch
    widths = [arch['embed_dims'] * 2**s for s in range(len(arch['depths']))]
    return (f'Swin arms: the Swin of `{osp.relpath(config, _repo())}` (blocks per stage '
            f'{list(arch["depths"])}, widths {widths}, heads {list(arch["num_heads"])}, patch '
            f'{backbone.patch_size}, window {backbone.window_size}); the ViT sizes do not apply '
            'to them, the data, batch, lr, epochs, scale and LoRA rank do.')


def _repo() -> str:
    return osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
