"""The detection experiment's sizes, its arms and the runs they expand to.

Step 0 of every seed pretrains the L-layer ViT as a Fashion-MNIST classifier at the detection
patch scale (``configs/cls/fashion_mnist/vit_det_pretrain_fmnist.py``) and publishes its weights
(weights-only, :func:`experiments.scalenet_evidence.execute.publish_base`). Then four Mask R-CNN
arms train on the same generated Fashion-MNIST detection set, with the same iterations, batch,
image size, pipeline and schedule:

- ``vit_L`` (a): the pretrained L-layer ViT (``configs/det/mask_rcnn_deit_b.py``'s plain ViT);
- ``scalenet_2x`` (b): its ScaleNet 2x, the L pretrained layers run as 2L instances with LoRA
  (``configs/det/mask_rcnn_scalenet_b2x.py``'s backbone);
- ``vit_2L_scratch`` (c): a plain 2L-layer ViT from scratch (the depth of (b), its own tensors);
- ``resnet18_scratch`` (d): mmdet's stock Mask R-CNN with a ResNet-18 FPN from scratch, the
  reference for what this data and budget allow.

Every ViT arm has window attention in most layer instances and global attention in two (the
last of each half, as ViTDet places its four global blocks at the end of each quarter), the
simple feature pyramid and the shipped heads, through the one writer of reduced configs
(:mod:`scalenet_mm.testing.det_config`).

Two Swin arms run when named (:mod:`.swin`): ``swin`` (e), a small plain Swin Mask R-CNN, and
``scalenet_swin_2x`` (f), its ScaleNet 2x, both from a Swin pretrained per seed as a
Fashion-MNIST classifier (``configs/cls/fashion_mnist/swin_det_pretrain_fmnist.py``).
"""
import hashlib
import json
import os.path as osp
from dataclasses import asdict, dataclass, fields
from typing import Any, Dict, List, Optional, Tuple

from . import swin

#: The repository root (tools/train.py, tools/test.py and the configs live there).
REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
PRETRAIN_CONFIG = osp.join(REPO_ROOT, 'configs', 'cls', 'fashion_mnist',
                           'vit_det_pretrain_fmnist.py')
#: The classifier stages after the pretraining (``DetSettings.grow_epochs``): the base grown to
#: ScaleNet 2x, and the base trained as long without growing; each from the seed's base.
STAGE_CONFIGS: Dict[str, str] = {
    'grow': osp.join(REPO_ROOT, 'experiments', 'configs', 'scalenet2x_det_classifier.py'),
    'continue': osp.join(REPO_ROOT, 'experiments', 'configs',
                         'vit_det_classifier_continue.py')}
#: The weights-only file each ViT classifier run publishes.
PUBLISHED_NAMES: Dict[str, str] = {'pretrain': 'vit_L.pth', 'grow': 'vit_scalenet2x.pth',
                                   'continue': 'vit_L_continued.pth'}
#: Test images a ViT classifier run validates on after every epoch (the first N; for canvas
#: pretraining also the canvases written for its test split).
PRETRAIN_VAL_SIZE = 1000
#: Fashion-MNIST's statistics on 0..255 (the classification recipe's normalisation).
FMNIST_MEAN, FMNIST_STD = 72.94, 90.02

#: The classifier readouts of the pretraining (``DetSettings.pretrain_readout``).
PRETRAIN_READOUTS = ('cls_token', 'avg_featmap')

#: How a detector takes its classifier's position embedding (``DetSettings.pos_embed_transfer``).
POS_EMBED_TRANSFERS = ('resize', 'zero')

#: What the classifier is pretrained on (``DetSettings.pretrain_input``).
PRETRAIN_INPUTS = ('garment', 'canvas')

#: Settings added after results were published: a fingerprint leaves them out while they hold
#: their default, so the runs made before they existed stay valid.
LATER_KEYS = ('pretrain_readout', 'pos_embed_transfer', 'pretrain_input', 'grow_epochs')


@dataclass(frozen=True)
class DetSettings:
    """Sizes and recipe values of the detection experiment (each a command-line option).

    Attributes:
        layers: L, layers of the pretrained ViT (arm (a)); (b) runs 2L instances of them and
            (c) has 2L layers.
        embed_dims, num_heads, feedforward_channels: ViT width.
        patch: patch side in pixels, the same in pretraining and detection.
        window: window side (tokens) of the windowed instances.
        lora_rank: LoRA rank of the ScaleNet arm's instances.
        pretrain_side: side of the classification images (28 px resized), a multiple of patch.
        pretrain_epochs, pretrain_size, pretrain_lr: the classifier's epochs, training images
            (the first N of Fashion-MNIST's train split; 0 = all 60,000) and peak lr.
        pretrain_readout: what the classifier's head reads: ``'cls_token'`` (mmpretrain's ViT
            default; the patch tokens of the last layer get no loss of their own) or
            ``'avg_featmap'`` (no class token, the head reads the mean patch token: every
            patch token is trained, and the backbone is the detector's, which has no class
            token).
        pos_embed_transfer: how the detector takes the classifier's absolute position
            embedding: ``'resize'`` (interpolated from the classifier's grid to the detector's,
            ``load_pretrained``) or ``'zero'`` (set to zero, every other tensor loaded: the
            classifier's embedding codes a position within one garment, the detector's a
            position on the canvas; the rel-pos tables still give relative positions).
        pretrain_input: what the classifier sees: ``'garment'`` (one garment resized to fill
            the ``pretrain_side`` px image, the ViT's global attention everywhere) or
            ``'canvas'`` (:mod:`.canvas_pretrain`: a ``pretrain_side`` px canvas of the
            detection set's background with one garment at the detection scales, cut to the
            canvas, anywhere on it; the classifier is the detector's backbone: no class
            token, mean-token readout, windows of ``window`` tokens with global attention
            where the detector has it).
        grow_epochs: 0: the ScaleNet arm (b) grows the base classifier inside the detector
            (its added instances and adapters start untrained in Mask R-CNN). N > 0: the
            paper's order: the base classifier is grown to ScaleNet 2x and trained N more
            epochs as a classifier (the ``grow`` stage), and (b) starts from that; the arm
            ``vit_L_continued`` starts from the base trained N more epochs without growing
            (the ``continue`` stage), the control for the extra classifier epochs.
        image: side of the detection canvases.
        num_train, num_val: canvases of the generated train / val splits (garments from
            Fashion-MNIST's train / test split).
        curve_val: the first N val canvases evaluated during training (the mAP curve); the
            reported mAP is ``tools/test.py`` on all ``num_val``.
        objects: garments per canvas (min, max); scale: garment side / 28 (min, max).
        iters: training iterations of every detection arm; batch: images per iteration.
        evals: evaluations of the mAP curve during training (the last at ``iters``).
        lr: AdamW peak lr of every detection arm; weight_decay: AdamW weight decay.
        layer_decay: layer-wise lr decay of the pretrained ViT arms (the arms from scratch use
            1.0: their first layers have nothing to keep).
        shared_depth: which use of a shared tensor sets its layer-decay depth (``'first'``:
            its original layer; ``'last'``: its last instance, which under the cyclic map
            gives the shared tensors the lrs of the L-layer arm; the default, so that (a) and (b)
            train their pretrained tensors at the same lrs); the plain arms share nothing.
        neck: channels of the pyramid and the heads.
        seeds: one full set of runs per seed (each seed pretrains its own backbone).
    """
    layers: int = 4
    embed_dims: int = 64
    num_heads: int = 4
    feedforward_channels: int = 256
    patch: int = 8
    window: int = 4
    lora_rank: int = 4
    pretrain_side: int = 40
    pretrain_epochs: int = 5
    pretrain_size: int = 20000
    pretrain_lr: float = 2e-3
    pretrain_readout: str = 'cls_token'
    pos_embed_transfer: str = 'resize'
    pretrain_input: str = 'garment'
    grow_epochs: int = 0
    image: int = 128
    num_train: int = 1000
    num_val: int = 100
    curve_val: int = 40
    objects: Tuple[int, int] = (2, 5)
    scale: Tuple[float, float] = (1.0, 2.5)
    iters: int = 600
    batch: int = 4
    evals: int = 3
    lr: float = 4e-4
    weight_decay: float = 0.1
    layer_decay: float = 0.9
    shared_depth: str = 'last'
    neck: int = 64
    seeds: Tuple[int, ...] = (0, 1, 2)

    def validate(self) -> None:
        """Raise ValueError for values the configs cannot run, naming the value and the rule."""
        for name in ('layers', 'embed_dims', 'num_heads', 'patch', 'window', 'lora_rank',
                     'pretrain_epochs', 'num_train', 'num_val', 'curve_val', 'iters', 'batch',
                     'evals', 'neck'):
            if getattr(self, name) < 1:
                raise ValueError(f'{name}={getattr(self, name)} must be >= 1')
        if self.embed_dims % self.num_heads or self.embed_dims % 4:
            raise ValueError(f'embed_dims={self.embed_dims} must be a multiple of num_heads='
                             f'{self.num_heads} and of 4 (the pyramid halves it twice)')
        if self.layers < 2:
            raise ValueError(f'layers={self.layers} must be >= 2 (one windowed and one global '
                             f'layer per half)')
        if self.image % (self.patch * self.window):
            raise ValueError(f'image={self.image} must be a multiple of patch * window = '
                             f'{self.patch * self.window} (whole windows on the token grid)')
        if self.image % 32:
            raise ValueError(f'image={self.image} must be a multiple of 32 (the pyramid and the '
                             f'ResNet reach stride 32)')
        if self.pretrain_side % self.patch:
            raise ValueError(f'pretrain_side={self.pretrain_side} must be a multiple of '
                             f'patch={self.patch}')
        if not 0 <= self.pretrain_size <= 60000:
            raise ValueError(f'pretrain_size={self.pretrain_size} must be in [0, 60000] '
                             f'(0 = all)')
        if self.pretrain_readout not in PRETRAIN_READOUTS:
            raise ValueError(f'pretrain_readout={self.pretrain_readout!r} must be one of '
                             f'{PRETRAIN_READOUTS}')
        if self.grow_epochs < 0:
            raise ValueError(f'grow_epochs={self.grow_epochs} must be >= 0 (0: no grow stage)')
        if self.pretrain_input not in PRETRAIN_INPUTS:
            raise ValueError(f'pretrain_input={self.pretrain_input!r} must be one of '
                             f'{PRETRAIN_INPUTS}')
        if self.pretrain_input == 'canvas' and self.pretrain_side % (self.patch * self.window):
            raise ValueError(f'pretrain_side={self.pretrain_side} must be a multiple of patch * '
                             f'window = {self.patch * self.window} for canvas pretraining '
                             f'(whole windows on the token grid)')
        if self.pos_embed_transfer not in POS_EMBED_TRANSFERS:
            raise ValueError(f'pos_embed_transfer={self.pos_embed_transfer!r} must be one of '
                             f'{POS_EMBED_TRANSFERS}')
        if self.evals > self.iters:
            raise ValueError(f'evals={self.evals} cannot exceed iters={self.iters}')
        if not 0 < self.layer_decay <= 1:
            raise ValueError(f'layer_decay={self.layer_decay} must lie in (0, 1]')
        from scalenet_mm.method import SHARED_DEPTH_RULES
        if self.shared_depth not in SHARED_DEPTH_RULES:
            raise ValueError(f'shared_depth={self.shared_depth!r} must be one of '
                             f'{SHARED_DEPTH_RULES}')
        if self.lr <= 0 or self.pretrain_lr <= 0:
            raise ValueError(f'lr={self.lr} and pretrain_lr={self.pretrain_lr} must be > 0')
        if not self.seeds:
            raise ValueError('at least one seed is needed')

    @property
    def val_interval(self) -> int:
        """Iterations between two evaluations of the curve."""
        return max(1, self.iters // self.evals)

    def fingerprint(self, keys: Optional[Tuple[str, ...]] = None) -> str:
        """A short hash of the settings (``keys`` only, when given), seeds excluded: a finished
        run whose fingerprint differs is stale."""
        values = asdict(self)
        values.pop('seeds')
        if keys is not None:
            values = {k: values[k] for k in keys}
        for key in LATER_KEYS:  # at their defaults they hash as before they existed
            if key in values and values[key] == getattr(DetSettings, key):
                values.pop(key)
        return hashlib.sha1(json.dumps(values, sort_keys=True).encode()).hexdigest()[:12]


#: What the pretraining run depends on (a change of the detection sizes keeps it).
PRETRAIN_KEYS = ('layers', 'embed_dims', 'num_heads', 'feedforward_channels', 'patch',
                 'pretrain_side', 'pretrain_epochs', 'pretrain_size', 'pretrain_lr',
                 'pretrain_readout', 'pretrain_input')


def pretrain_keys(settings: DetSettings) -> Tuple[str, ...]:
    """What a seed's ViT pretraining depends on: :data:`PRETRAIN_KEYS`, and for canvas
    pretraining also the window and the garment scales (its data and attention layout)."""
    if settings.pretrain_input == 'canvas':
        return PRETRAIN_KEYS + ('window', 'scale')
    return PRETRAIN_KEYS


def stage_keys(settings: DetSettings) -> Tuple[str, ...]:
    """What a grow or continue stage depends on: its base's keys, its epochs and the rank."""
    return pretrain_keys(settings) + ('grow_epochs', 'lora_rank')


def detection_keys(settings: DetSettings) -> Tuple[str, ...]:
    """What a ViT detection arm that loads no grow or continue stage depends on: every setting
    but the seeds and the stages' epochs (so adding a grow stage keeps those arms' runs)."""
    return tuple(field.name for field in fields(settings)
                 if field.name not in ('seeds', 'grow_epochs'))


@dataclass(frozen=True)
class DetArm:
    """One detection arm.

    Attributes:
        name: short id (work-dir name, table key); label: its description.
        backbone: ``'vit'``, ``'swin'`` (:mod:`.swin`) or ``'resnet'``.
        base_config: the shipped config the reduced one inherits (relative to the repo, or an
            ``mmdet::`` path).
        depth: ``'L'`` or ``'2L'`` layers stored; instances: ``'L'`` or ``'2L'`` run (a Swin:
            its blocks per stage run once or twice).
        pretrained: whether the backbone starts from the seed's classifier (of its backbone).
        lora: whether the instances get LoRA adapters (the ScaleNet arm).
        start: which of the seed's ViT classifiers a pretrained arm loads: ``'pretrain'`` (the
            base), ``'grow'`` (the grow stage when ``grow_epochs`` > 0, else the base) or
            ``'continue'`` (the continue stage; needs ``grow_epochs`` > 0).
    """
    name: str
    label: str
    backbone: str
    base_config: str
    depth: str = 'L'
    instances: str = 'L'
    pretrained: bool = False
    lora: bool = False
    start: str = 'pretrain'


ARMS: Tuple[DetArm, ...] = (
    DetArm('vit_L', '(a) ViT, L layers, pretrained', 'vit',
           osp.join('configs', 'det', 'mask_rcnn_deit_b.py'), pretrained=True),
    DetArm('scalenet_2x', '(b) ScaleNet 2x of (a): 2L instances, LoRA, pretrained', 'vit',
           osp.join('configs', 'det', 'mask_rcnn_scalenet_b2x.py'), instances='2L',
           pretrained=True, lora=True, start='grow'),
    DetArm('vit_2L_scratch', '(c) ViT, 2L layers, from scratch', 'vit',
           osp.join('configs', 'det', 'mask_rcnn_deit_b.py'), depth='2L', instances='2L'),
    DetArm('resnet18_scratch', '(d) ResNet-18 FPN (mmdet stock), from scratch', 'resnet',
           'mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py'),
)
#: The Swin arms (:mod:`.swin`): run when named, not in the default :data:`ARMS`.
SWIN_ARMS: Tuple[DetArm, ...] = (
    DetArm('swin', '(e) Swin, 2 blocks per stage, pretrained', 'swin', swin.SWIN_BASE_CONFIG,
           pretrained=True),
    DetArm('scalenet_swin_2x', '(f) ScaleNet Swin 2x of (e): 4 instances per stage, LoRA, '
           'pretrained', 'swin', swin.SWIN_BASE_CONFIG, instances='2L', pretrained=True,
           lora=True),
)
#: Diagnosis arms, run when named: (a) without its pretraining measures what the classifier
#: pretraining adds to the L-layer detector, which bounds what growing it can show; (a+) is
#: (a) from its classifier trained ``grow_epochs`` more (the control of the grow stage).
DIAGNOSIS_ARMS: Tuple[DetArm, ...] = (
    DetArm('vit_L_scratch', '(a0) ViT, L layers, from scratch (diagnosis)', 'vit',
           osp.join('configs', 'det', 'mask_rcnn_deit_b.py')),
    DetArm('vit_L_continued', "(a+) ViT, L layers, from (a)'s classifier trained as long as "
           "(b)'s grow stage", 'vit', osp.join('configs', 'det', 'mask_rcnn_deit_b.py'),
           pretrained=True, start='continue'),
)
#: Every arm a command line may name.
ALL_ARMS: Tuple[DetArm, ...] = ARMS + SWIN_ARMS + DIAGNOSIS_ARMS
ARMS_BY_NAME: Dict[str, DetArm] = {arm.name: arm for arm in ALL_ARMS}


def global_attention(instances: int) -> Tuple[int, ...]:
    """The global-attention instances: the last of each half (window attention elsewhere)."""
    return (instances // 2 - 1, instances - 1)


@dataclass
class DetRun:
    """One run: a seed's classifier (``arm`` None: the pretraining, or with ``stage``
    ``'grow'`` / ``'continue'`` a classifier stage from it) or a detection arm with one seed.
    ``backbone``: the run's backbone (a pretraining run's: ``'vit'`` or ``'swin'``)."""
    name: str
    seed: int
    work_dir: str
    arm: Optional[DetArm] = None
    depends_on: Optional[str] = None
    backbone: str = 'vit'
    stage: str = 'pretrain'

    @property
    def is_pretrain(self) -> bool:
        return self.arm is None


def stage_name(stage: str, seed: int) -> str:
    """The run name of a seed's classifier stage (``'pretrain'``, ``'grow'``, ``'continue'``)."""
    return f'{stage}_seed{seed}'


def pretrain_name(seed: int) -> str:
    return stage_name('pretrain', seed)


def classifier_of(settings: DetSettings, arm: DetArm, seed: int) -> Optional[str]:
    """The name of the classifier run a detection arm loads (None: from scratch)."""
    if not arm.pretrained:
        return None
    if arm.backbone == 'swin':
        return swin.swin_pretrain_name(seed)
    if arm.start == 'pretrain' or (arm.start == 'grow' and not settings.grow_epochs):
        return pretrain_name(seed)
    return stage_name(arm.start, seed)


def plan_runs(settings: DetSettings, work_dir: str,
              arms: Tuple[DetArm, ...] = ARMS) -> List[DetRun]:
    """The pretraining runs first (only when an arm needs them: the ViT classifier for the ViT
    arms, the Swin one for the Swin arms), then the arms seed by seed, so the first seed's
    complete comparison is available earliest."""
    if any(arm.start == 'continue' for arm in arms) and not settings.grow_epochs:
        raise ValueError(f'arms {[a.name for a in arms if a.start == "continue"]} start from '
                         f'the continue stage, which needs grow_epochs > 0 (--grow-epochs N)')
    runs: List[DetRun] = []
    for backbone, name_of in (('vit', pretrain_name), ('swin', swin.swin_pretrain_name)):
        if any(arm.pretrained and (arm.backbone == 'swin') == (backbone == 'swin')
               for arm in arms):
            runs += [DetRun(name_of(s), s, osp.join(work_dir, 'runs', name_of(s)),
                            backbone=backbone) for s in settings.seeds]
    needed = {classifier_of(settings, arm, seed) for arm in arms for seed in settings.seeds}
    for stage in ('grow', 'continue'):
        runs += [DetRun(stage_name(stage, s), s, osp.join(work_dir, 'runs', stage_name(stage, s)),
                        depends_on=pretrain_name(s), stage=stage)
                 for s in settings.seeds if stage_name(stage, s) in needed]
    for seed in settings.seeds:
        for arm in arms:
            name = f'{arm.name}_seed{seed}'
            runs.append(DetRun(name, seed, osp.join(work_dir, 'runs', name), arm,
                               classifier_of(settings, arm, seed), arm.backbone))
    return runs


def pretrain_options(settings: DetSettings, seed: int, data_root: str) -> Dict[str, Any]:
    """``--cfg-options`` of a seed's classifier pretraining."""
    side = settings.pretrain_side
    options: Dict[str, Any] = {
        'model.backbone.arch.embed_dims': settings.embed_dims,
        'model.backbone.arch.num_layers': settings.layers,
        'model.backbone.arch.num_heads': settings.num_heads,
        'model.backbone.arch.feedforward_channels': settings.feedforward_channels,
        'model.backbone.patch_size': settings.patch,
        'model.backbone.img_size': side,
        'model.head.in_channels': settings.embed_dims,
        'train_cfg.max_epochs': settings.pretrain_epochs,
        'optim_wrapper.optimizer.lr': settings.pretrain_lr,
        'randomness.seed': seed,
        'train_dataloader.dataset.indices': settings.pretrain_size or None,
        'val_dataloader.dataset.indices': PRETRAIN_VAL_SIZE,
    }
    if settings.pretrain_readout == 'avg_featmap' or settings.pretrain_input == 'canvas':
        options['model.backbone.out_type'] = 'avg_featmap'
        options['model.backbone.with_cls_token'] = False
    if settings.pretrain_input == 'canvas':  # the detector's attention layout
        options['model.backbone.window_size'] = settings.window
        options['model.backbone.global_attn_indexes'] = global_attention(settings.layers)
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        options[f'{loader}.dataset.data_root'] = data_root
        options[f'{loader}.dataset.pipeline.0.scale'] = side
    return options


def stage_options(settings: DetSettings, seed: int, data_root: str, stage: str,
                  base: str) -> Dict[str, Any]:
    """``--cfg-options`` of a seed's classifier stage (``'grow'`` or ``'continue'``) from the
    published base classifier ``base``: the pretraining's sizes, data and recipe, for
    ``grow_epochs`` epochs, backbone and head loaded from ``base``; the grown model runs 2L
    instances with rank ``lora_rank`` LoRA and, for canvas pretraining, the detector's (b)
    attention layout (global in the last instance of each half)."""
    options = pretrain_options(settings, seed, data_root)
    options.update({'train_cfg.max_epochs': settings.grow_epochs,
                    'model.backbone.init_cfg.checkpoint': base,
                    'model.head.init_cfg.checkpoint': base})
    if stage == 'grow':
        options['model.backbone.adapter.rank'] = settings.lora_rank
        if settings.pretrain_input == 'canvas':  # (b)'s layout over its 2L instances
            options['model.backbone.global_attn_indexes'] = global_attention(2 * settings.layers)
    return options


def det_sizes(settings: DetSettings, arm: DetArm, seed: int, pretrained: Optional[str]):
    """The :class:`scalenet_mm.testing.ReducedDetSizes` of an arm's run."""
    from scalenet_mm.testing import ReducedDetSizes

    layers = settings.layers * (2 if arm.depth == '2L' else 1)
    instances = settings.layers * (2 if arm.instances == '2L' else 1)
    warmup = max(2, settings.iters // 10)
    # what every arm shares: data, schedule, heads, optimizer
    common = dict(
        image=settings.image, neck=settings.neck, fc=4 * settings.neck, drop_path=0.0,
        with_cp=False, batch=settings.batch, val_batch=8, lr=settings.lr,
        weight_decay=settings.weight_decay, clip_grad=10.0, max_iters=settings.iters,
        val_interval=settings.val_interval, warmup=warmup, warmup_factor=0.01,
        lr_drop=max(1, int(settings.iters * 0.8)),
        log_interval=max(1, min(10, settings.val_interval)), nms_pre=300,
        ratio_range=(0.75, 1.33), seed=seed, channels=1, mean=(FMNIST_MEAN, ),
        std=(FMNIST_STD, ))
    if arm.backbone == 'swin':
        return swin.det_sizes(settings, arm, seed, pretrained, common)
    return ReducedDetSizes(
        backbone=arm.backbone, dims=settings.embed_dims, num_heads=settings.num_heads,
        ffn=settings.feedforward_channels, num_layers=layers, instances=instances,
        window=settings.window, global_attn=global_attention(instances),
        layer_decay=settings.layer_decay if arm.pretrained else 1.0,
        shared_depth=settings.shared_depth, patch=settings.patch,
        scale_factors=(2.0, 1.0, 0.5), pretrained=pretrained, **common)


def config_extra(settings: DetSettings, arm: DetArm) -> str:
    """Lines appended to an arm's reduced config, so that ``tools/test.py`` (which gets no
    ``--cfg-options``) builds the model ``tools/train.py`` trained: the LoRA rank of the ScaleNet
    arms (the shipped configs have rank 10; a checkpoint of another rank would load with its
    LoRA tensors skipped as size mismatches), and the plain Swin arm's depth and adapter."""
    extra = ''
    if arm.lora:
        extra += f"model['backbone']['adapter'] = dict(rank={settings.lora_rank})\n"
    if arm.backbone == 'swin':
        extra += swin.config_extra(settings, arm)
    return extra


def det_options(settings: DetSettings, arm: DetArm, curve_split) -> Dict[str, Any]:
    """``--cfg-options`` of an arm's training run: the curve's val subset and a checkpoint at
    every evaluation (a killed run resumes from the last one). The adapter rank is in the config
    itself (:func:`config_extra`), which ``tools/test.py`` reads too."""
    options: Dict[str, Any] = {
        'val_dataloader.dataset.ann_file': curve_split.ann_file,
        'val_evaluator.ann_file': curve_split.ann_path,
        'default_hooks.checkpoint.interval': settings.val_interval,
    }
    return options
