"""The Fashion-MNIST experiment: its sizes, its arms and the training runs they expand to.

One *arm* is one way of getting a model: the L-layer base ViT itself, the deep ViT from
scratch, ScaleNet grown from the base, and ablations; one *run* is an arm trained with one
seed by ``tools/train.py`` and evaluated by ``tools/test.py``. Every run of a seed shares the
data subset, the recipe and the seed; arms differ only in the backbone, its initialisation
and the number of epochs. The epochs follow the paper's protocol: the base model and the
deep model from scratch both train the full schedule E, every growth arm E' (a third of it
in the paper).

There is one recipe: the shipped configs of ``configs/cls/fashion_mnist/`` (the main job's
base, ScaleNet, control and deep-from-scratch configs); the ablations under
``experiments/configs/`` inherit them and change only their backbone. The Swin arms
(:mod:`.swin_arms`: a small Swin, its ScaleNet 2x and its control) run only when named. The
README's main job (``tools/run_main_job.py``) is a preset of this experiment: three of its
arms, one seed.
"""
import hashlib
import json
import os.path as osp
from dataclasses import asdict, dataclass, field
from typing import Any, Dict, List, Optional, Tuple

from . import swin_arms

#: The repository root (``tools/train.py``, ``tools/test.py`` and the configs live there).
REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
#: The shipped recipe: base, ScaleNet, control and deep-from-scratch configs.
RECIPE_DIR = osp.join(REPO_ROOT, 'configs', 'cls', 'fashion_mnist')
#: The ablation configs (each inherits a recipe config and changes its backbone).
CONFIG_DIR = osp.join(REPO_ROOT, 'experiments', 'configs')
#: Fashion-MNIST's split sizes (a size of 0 means the whole split).
TRAIN_IMAGES, TEST_IMAGES = 60000, 10000


@dataclass(frozen=True)
class Settings:
    """Sizes and recipe values of the experiment (each a command-line option).

    Attributes:
        layers: L, depth of the base ViT.
        scale: depth factor of the grown and the deep models (``round(scale * L)`` layers or
            layer instances).
        embed_dims, num_heads, feedforward_channels: ViT width.
        patch_size: patch side on the 28x28 images (7 gives a 4x4 token grid).
        lora_rank: LoRA rank of the ScaleNet arms.
        pretrain_epochs: E, epochs of the base model.
        epochs: E', epochs of every growth arm and of the not-grown control.
        scratch_epochs: epochs of the deep model from scratch; 0 means E (the paper's
            protocol: the base and the deep model from scratch both get the full schedule).
        train_size: the first ``train_size`` training images (0 = all 60,000).
        val_size: the first ``val_size`` test images evaluated after every epoch (the
            accuracy curves; 0 = all 10,000).
        test_size: the first ``test_size`` test images evaluated by ``tools/test.py`` at the
            end of each run (the reported top-1; 0 = all 10,000).
        train_eval_size: the first ``train_eval_size`` *training* images evaluated by
            ``tools/test.py`` at the end of each run (training accuracy, without
            augmentation: how far the model is from fitting its data; 0 = every training
            image the run used).
        batch_size: images per optimizer step.
        lr: AdamW peak learning rate of the runs from scratch (the base, the deep model).
        growth_lr: AdamW peak learning rate of the runs that start from the base model, the
            same for every one of them. On all 60,000 images (the base underfits) every growth
            arm ended highest at the from-scratch rate, of 5e-4, 1e-3 and 2e-3 (docs/evidence.md,
            "Sizing"); on 10,000 images (the base overfits) a fine-tuning rate was better.
        growth_drop_path: stochastic depth of the runs that start from the base model (growth
            arms and control), rising linearly over the instances as in DeiT; 0 (the default)
            trains them without, as the base. A diagnosis of whether dropping instances makes
            a grown model use its added depth (docs/evidence.md).
        seeds: one full set of runs per seed (each seed trains its own base model).

    The defaults (L = 2, width 64, MLP 256, E = 18, E' = 6, all 60,000 images) are the regime
    of the regime test (docs/evidence.md, "Sizing"): with L = 4 the added instances of every
    grown model ended as near-identities; with L = 2 they are used and the grown models end
    above the control; at width 32 the base still gained from a longer schedule (no plateau),
    at width 64 it is at its plateau by E = 18 (a 1.5x longer schedule overfits).
    """
    layers: int = 2
    scale: float = 2.0
    embed_dims: int = 64
    num_heads: int = 2
    feedforward_channels: int = 256
    patch_size: int = 7
    lora_rank: int = 4
    pretrain_epochs: int = 18
    epochs: int = 6
    scratch_epochs: int = 0
    train_size: int = 0
    val_size: int = 0
    test_size: int = 0
    train_eval_size: int = 10000
    batch_size: int = 64
    lr: float = 2e-3
    growth_lr: float = 2e-3
    growth_drop_path: float = 0.0
    seeds: Tuple[int, ...] = (0, 1, 2)

    def validate(self) -> None:
        """Raise ValueError for sizes the configs cannot run, naming the value and the rule."""
        for name in ('layers', 'embed_dims', 'num_heads', 'feedforward_channels',
                     'patch_size', 'batch_size', 'pretrain_epochs', 'epochs'):
            if getattr(self, name) < 1:
                raise ValueError(f'{name}={getattr(self, name)} must be >= 1')
        if self.embed_dims % self.num_heads:
            raise ValueError(f'embed_dims={self.embed_dims} must be a multiple of '
                             f'num_heads={self.num_heads}')
        if 28 % self.patch_size:
            raise ValueError(f'patch_size={self.patch_size} must divide 28 (7, 4, 14 or 2)')
        if self.scale < 1.0 or self.deep_layers <= self.layers:
            raise ValueError(f'scale={self.scale} must give more than L={self.layers} layers '
                             f'(round(scale * L) = {self.deep_layers})')
        if self.lora_rank < 1:
            raise ValueError(f'lora_rank={self.lora_rank} must be >= 1 (the shared arm without '
                             f'adapters is the "shared_noadapter" arm)')
        if self.scratch_epochs < 0:
            raise ValueError(f'scratch_epochs={self.scratch_epochs} must be >= 0 (0 = E)')
        for name, limit in (('train_size', TRAIN_IMAGES), ('val_size', TEST_IMAGES),
                            ('test_size', TEST_IMAGES), ('train_eval_size', TRAIN_IMAGES)):
            if not 0 <= getattr(self, name) <= limit:
                raise ValueError(f'{name}={getattr(self, name)} must be between 0 (the whole '
                                 f'split) and {limit:,}')
        if self.lr <= 0 or self.growth_lr <= 0:
            raise ValueError(f'lr={self.lr} and growth_lr={self.growth_lr} must be > 0')
        if not 0.0 <= self.growth_drop_path < 1.0:
            raise ValueError(f'growth_drop_path={self.growth_drop_path} must be in [0, 1) (a '
                             'drop probability; 0 = no stochastic depth)')
        if not self.seeds:
            raise ValueError('at least one seed is needed')

    @property
    def deep_layers(self) -> int:
        """Layers (or layer instances) of the grown and the deep models."""
        return int(round(self.layers * self.scale))

    @property
    def scratch_epochs_resolved(self) -> int:
        """Epochs of the deep model from scratch (``scratch_epochs``, or E when 0)."""
        return self.scratch_epochs or self.pretrain_epochs

    @property
    def train_images(self) -> int:
        """Training images a run actually uses."""
        return self.train_size or TRAIN_IMAGES

    @property
    def train_eval_images(self) -> int:
        """Training images evaluated for the training accuracy (never more than trained on)."""
        return min(self.train_eval_size or self.train_images, self.train_images)

    @property
    def val_images(self) -> int:
        return self.val_size or TEST_IMAGES

    @property
    def test_images(self) -> int:
        return self.test_size or TEST_IMAGES

    def fingerprint(self, arm: Optional['Arm'] = None) -> str:
        """A short hash of the settings that ``arm``'s *training* depends on (all of them when
        ``arm`` is None), seeds and the evaluation sizes excluded: a finished run with another
        fingerprint is stale, one with another ``test_size`` or ``train_eval_size`` is only
        tested again. Runs from
        scratch do not depend on ``growth_lr`` nor on the growth arms' sizes (a grown
        architecture from scratch does depend on its scale and LoRA rank)."""
        values = asdict(self)
        values.pop('seeds')
        values.pop('test_size')
        values.pop('train_eval_size')
        if not values['growth_drop_path']:
            # Left out at its default, so that runs finished before the setting existed keep
            # their fingerprint and are reused.
            values.pop('growth_drop_path')
        if arm is not None and arm.init == 'scratch':
            values.pop('growth_lr')
            values.pop('growth_drop_path', None)
            values.pop('epochs')
            if not arm.lora:
                values.pop('lora_rank')
            if arm.depth == 'L' and not arm.grown:
                values.pop('scale')
            if arm.depth == 'L':
                values.pop('scratch_epochs')
        return hashlib.sha1(json.dumps(values, sort_keys=True).encode()).hexdigest()[:12]


@dataclass(frozen=True)
class Arm:
    """One way of obtaining the model.

    Attributes:
        name: short id (work-dir name, table key).
        label: the table's and plot's description.
        config: the config file, relative to the repository root.
        depth: ``'L'`` (the base's L layers, shared by the grown arms' ``scale * L``
            instances) or ``'deep'`` (a plain ViT of ``scale * L`` layers).
        epochs: ``'E'``, ``'1.5E'`` (the plateau check: does the base gain from half as
            many epochs again?), ``"E'"`` or ``'scratch'``.
        init: ``'scratch'``, ``'pretrained'`` (backbone and head from the seed's base run)
            or ``'stacked'`` (the unshared copy of the base model).
        grown: whether the config's backbone runs ``scale * L`` instances of the L layers
            (``model.backbone.depth`` is set to ``scale``).
        lora: whether the config has a LoRA adapter whose rank is set.
        rank: the arm's own LoRA rank (the adapter study); None: the settings' ``lora_rank``.
        group: ``'protocol'`` (the paper's arms), ``'ablation'``, ``'study'`` (the adapter
            study and the recipe variants grown from the base), ``'regime'`` (runs that test
            whether the regime can show growth), ``'diagnosis'`` (ScaleNet's model from
            scratch: not a growth recipe, so not in the adapter study) or ``'swin'`` (the
            Swin arms, :mod:`.swin_arms`).
        family: ``'vit'`` or ``'swin'``: which options the config takes (the Swin's sizes are
            its config's) and which base run a growth arm starts from (:func:`base_arm`).
    """
    name: str
    label: str
    config: str
    depth: str
    epochs: str
    init: str
    grown: bool = False
    lora: bool = False
    rank: Optional[int] = None
    group: str = 'protocol'
    family: str = 'vit'


def _recipe(name: str) -> str:
    return osp.join('configs', 'cls', 'fashion_mnist', name)


def _ablation(name: str) -> str:
    return osp.join('experiments', 'configs', name)


PRETRAIN = Arm('pretrain', 'base ViT, L layers (E epochs)', _recipe('vit_L4_fmnist.py'), 'L',
               'E', 'scratch')
ARMS: Tuple[Arm, ...] = (
    PRETRAIN,
    Arm('scratch', 'deep plain ViT from scratch', _recipe('vit_L8_fmnist.py'), 'deep',
        'scratch', 'scratch'),
    Arm('scalenet', "ScaleNet: cyclic + LoRA (E' epochs)", _recipe('scalenet_2x_fmnist.py'),
        'L', "E'", 'pretrained', grown=True, lora=True),
    Arm('shared_noadapter', "shared cyclic, no adapters (E' epochs)",
        _ablation('scalenet2x_shared_noadapter.py'), 'L', "E'", 'pretrained', grown=True,
        group='ablation'),
    Arm('stacking', "unshared copies / stacking (E' epochs)", _ablation('vit2x_stacking.py'),
        'deep', "E'", 'stacked', group='ablation'),
    Arm('interleave', "ScaleNet: interleaved map + LoRA (E' epochs)",
        _ablation('scalenet2x_interleave_lora.py'), 'L', "E'", 'pretrained', grown=True,
        lora=True, group='ablation'),
    Arm('gate', "ScaleNet: cyclic + LoRA + zero gates (E' epochs)",
        _ablation('scalenet2x_cyclic_lora_gate.py'), 'L', "E'", 'pretrained', grown=True,
        lora=True, group='ablation'),
    Arm('continue', "control: base trained E' more epochs, not grown",
        _recipe('vit_L4_continue_fmnist.py'), 'L', "E'", 'pretrained'),
    Arm('pretrain_long', 'base ViT, L layers, 1.5E epochs (plateau check)',
        _recipe('vit_L4_fmnist.py'), 'L', '1.5E', 'scratch', group='regime'),
    Arm('lora_rank1', "adapter study: LoRA rank 1 (E' epochs)", _recipe('scalenet_2x_fmnist.py'),
        'L', "E'", 'pretrained', grown=True, lora=True, rank=1, group='study'),
    Arm('lora_rank16', "adapter study: LoRA rank 16 (E' epochs)",
        _recipe('scalenet_2x_fmnist.py'), 'L', "E'", 'pretrained', grown=True, lora=True,
        rank=16, group='study'),
    Arm('bottleneck', "adapter study: parallel bottleneck, width 16 (E' epochs)",
        _ablation('scalenet2x_bottleneck.py'), 'L', "E'", 'pretrained', grown=True,
        group='study'),
    Arm('lora_inserted', "adapter study: LoRA on inserted instances only (E' epochs)",
        _ablation('scalenet2x_lora_inserted.py'), 'L', "E'", 'pretrained', grown=True,
        lora=True, group='study'),
    Arm('adapter_lr4', "adapter study: LoRA at 4x the growth lr (E' epochs)",
        _ablation('scalenet2x_lora_adapter_lr4.py'), 'L', "E'", 'pretrained', grown=True,
        lora=True, group='study'),
)
#: Diagnosis arms (run when named, at E' from the seed's base): why the added instances of a
#: grown model end up nearly unused (docs/evidence.md, "Are the added instances used?"), and
#: why the adapters do not beat plain sharing (the shared tensors' lr, frozen originals).
DIAGNOSIS_ARMS: Tuple[Arm, ...] = (
    Arm('instance_norm', "diagnosis: ScaleNet + per-instance LayerNorms (E' epochs)",
        _ablation('scalenet2x_instance_norm.py'), 'L', "E'", 'pretrained', grown=True,
        lora=True, group='study'),
    Arm('adapter_nowd', "diagnosis: ScaleNet, no weight decay on the adapters (E' epochs)",
        _ablation('scalenet2x_adapter_nowd.py'), 'L', "E'", 'pretrained', grown=True,
        lora=True, group='study'),
    Arm('shared_lr01', "diagnosis: ScaleNet, shared tensors at 0.1x the growth lr (E' epochs)",
        _ablation('scalenet2x_shared_lr01.py'), 'L', "E'", 'pretrained', grown=True,
        lora=True, group='study'),
    Arm('shared_noadapter_lr01',
        "diagnosis: shared, no adapters, shared tensors at 0.1x the growth lr (E' epochs)",
        _ablation('scalenet2x_shared_noadapter_lr01.py'), 'L', "E'", 'pretrained',
        grown=True, group='study'),
    Arm('scalenet_scratch', "diagnosis: ScaleNet's architecture from scratch (E epochs)",
        _ablation('scalenet2x_from_scratch.py'), 'L', 'E', 'scratch', grown=True, lora=True,
        group='diagnosis'),
    Arm('lora_inserted_frozen',
        "diagnosis: LoRA on inserted instances, shared tensors frozen (E' epochs)",
        _ablation('scalenet2x_lora_inserted_frozen.py'), 'L', "E'", 'pretrained', grown=True,
        lora=True, group='study'),
)
#: The Swin arms (:mod:`.swin_arms`): not in :data:`ARMS`, the default experiment; run when
#: named. The grown and the control arm start from ``swin_pretrain``, not from ``pretrain``.
SWIN_PRETRAIN = Arm('swin_pretrain', 'base Swin, 2+2 blocks (E epochs)', _recipe('swin_fmnist.py'),
                    'L', 'E', 'scratch', group='swin', family='swin')
SWIN_ARMS: Tuple[Arm, ...] = (
    SWIN_PRETRAIN,
    Arm('swin_scalenet', "Swin ScaleNet: cyclic + LoRA (E' epochs)",
        _recipe('scalenet_swin_2x_fmnist.py'), 'L', "E'", 'pretrained', grown=True, lora=True,
        group='swin', family='swin'),
    Arm('swin_continue', "Swin control: base trained E' more epochs, not grown",
        _recipe('swin_continue_fmnist.py'), 'L', "E'", 'pretrained', group='swin',
        family='swin'),
)
#: Every arm a command line may name: the default ones, the diagnosis ones, the Swin ones.
ALL_ARMS: Tuple[Arm, ...] = ARMS + DIAGNOSIS_ARMS + SWIN_ARMS
ARMS_BY_NAME: Dict[str, Arm] = {arm.name: arm for arm in ALL_ARMS}
#: The base runs, one per family: each publishes its weights for the arms that start from it.
BASE_ARMS: Tuple[Arm, ...] = (PRETRAIN, SWIN_PRETRAIN)


def base_arm(arm: Arm) -> Arm:
    """The base arm whose run an arm that does not start from scratch starts from."""
    return SWIN_PRETRAIN if swin_arms.is_swin(arm) else PRETRAIN


def published_name(arm: Arm) -> str:
    """The name of the weights-only file a base run publishes."""
    return swin_arms.PUBLISHED_NAME if swin_arms.is_swin(arm) else 'vit_L.pth'


def run_fingerprint(settings: Settings, arm: Arm) -> str:
    """The fingerprint of the settings an arm's training depends on (the Swin arms' leaves
    out the ViT sizes, :func:`.swin_arms.fingerprint`)."""
    if swin_arms.is_swin(arm):
        return swin_arms.fingerprint(settings, arm)
    return settings.fingerprint(arm)
#: The arm whose config, at step 0, is exported as the stacked (unshared) checkpoint.
STACKING_SOURCE = ARMS_BY_NAME['shared_noadapter']


@dataclass
class Run:
    """One training run: an arm with one seed.

    Attributes:
        arm: the arm.
        seed: the seed (``randomness.seed``; also picks the base model).
        work_dir: the run's ``--work-dir``.
        config: the config's absolute path.
        cfg_options: the ``--cfg-options`` it gets, except the init checkpoint (filled in
            when the base run it depends on has finished).
        depends_on: name of the run that must finish first (the seed's base run).
    """
    arm: Arm
    seed: int
    work_dir: str
    config: str
    cfg_options: Dict[str, Any]
    depends_on: Optional[str] = None
    extra: Dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return run_name(self.arm.name, self.seed)


def run_name(arm: str, seed: int) -> str:
    """The id (and work-dir name) of an arm's run for a seed."""
    return f'{arm}_seed{seed}'


def subset(size: int) -> Optional[int]:
    """The ``dataset.indices`` value of a subset size: the first ``size`` images, or ``None``
    (the whole split) for 0. ``None`` must be passed explicitly: the recipe sets subsets, and
    leaving the key out would keep the recipe's."""
    return size or None


def common_options(settings: Settings, seed: int, data_root: str,
                   arm: Optional[Arm] = None) -> Dict[str, Any]:
    """``--cfg-options`` shared by every run of a seed: sizes, data, recipe, seed (for a Swin
    ``arm``, :func:`.swin_arms.common_options`: no ViT sizes)."""
    if arm is not None and swin_arms.is_swin(arm):
        return swin_arms.common_options(settings, seed, data_root)
    options: Dict[str, Any] = {
        'model.backbone.arch.embed_dims': settings.embed_dims,
        'model.backbone.arch.num_heads': settings.num_heads,
        'model.backbone.arch.feedforward_channels': settings.feedforward_channels,
        'model.backbone.patch_size': settings.patch_size,
        'model.head.in_channels': settings.embed_dims,
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


def arm_options(arm: Arm, settings: Settings) -> Dict[str, Any]:
    """``--cfg-options`` specific to an arm: its depth, epochs, adapter rank and lr."""
    if swin_arms.is_swin(arm):
        return swin_arms.arm_options(arm, settings)
    layers = settings.layers if arm.depth == 'L' else settings.deep_layers
    options: Dict[str, Any] = {'model.backbone.arch.num_layers': layers,
                               'train_cfg.max_epochs': arm_epochs(arm, settings)}
    if arm.grown:
        options['model.backbone.depth'] = float(settings.scale)
    if arm.lora:
        options['model.backbone.adapter.rank'] = arm.rank or settings.lora_rank
    if arm.init != 'scratch':
        options['optim_wrapper.optimizer.lr'] = settings.growth_lr
        if settings.growth_drop_path:
            options['model.backbone.drop_path_rate'] = settings.growth_drop_path
    return options


def init_options(checkpoint: str) -> Dict[str, Any]:
    """``--cfg-options`` pointing a config's backbone and head ``init_cfg`` at a checkpoint."""
    return {'model.backbone.init_cfg.checkpoint': checkpoint,
            'model.head.init_cfg.checkpoint': checkpoint}


def arm_epochs(arm: Arm, settings: Settings) -> int:
    """How many epochs the arm trains."""
    return {'E': settings.pretrain_epochs, '1.5E': int(round(1.5 * settings.pretrain_epochs)),
            "E'": settings.epochs, 'scratch': settings.scratch_epochs_resolved}[arm.epochs]


def arm_layers(arm: Arm, settings: Settings) -> Tuple[int, int]:
    """``(layers run, layers stored)``: the grown arms run ``scale * L`` instances of L (a
    Swin arm: its blocks over all stages)."""
    if swin_arms.is_swin(arm):
        return swin_arms.arm_layers(arm, settings, osp.join(REPO_ROOT, arm.config))
    if arm.grown:
        return settings.deep_layers, settings.layers
    layers = settings.layers if arm.depth == 'L' else settings.deep_layers
    return layers, layers


def plan_runs(settings: Settings, work_dir: str, data_root: str,
              arms: Tuple[Arm, ...] = ARMS) -> List[Run]:
    """Every run of the experiment: the base runs first (the others wait for them), then
    seed by seed, so the first seed's complete comparison is available earliest. Each growth
    arm depends on its family's base (:func:`base_arm`), which is added when not selected."""
    selected = list(arms)
    for arm in arms:
        if arm.init != 'scratch' and base_arm(arm) not in selected:
            selected.insert(0, base_arm(arm))
    for arm in selected:
        if swin_arms.is_swin(arm) and arm.grown:
            swin_arms.check_scale(settings, osp.join(REPO_ROOT, arm.config))
    if settings.growth_drop_path and any(swin_arms.is_swin(arm) and arm.init != 'scratch'
                                         for arm in selected):
        raise ValueError(f'growth_drop_path={settings.growth_drop_path} applies to the ViT arms '
                         'only (the Swin configs set their own drop_path_rate): leave it at 0 '
                         'when running Swin arms')
    bases = [base for base in BASE_ARMS if base in selected]
    order = [(base, seed) for base in bases for seed in settings.seeds]
    order += [(arm, seed) for seed in settings.seeds for arm in selected if arm not in bases]
    runs: List[Run] = []
    for arm, seed in order:
        options = common_options(settings, seed, data_root, arm)
        options.update(arm_options(arm, settings))
        runs.append(Run(arm=arm, seed=seed,
                        work_dir=osp.join(work_dir, 'runs', run_name(arm.name, seed)),
                        config=osp.join(REPO_ROOT, arm.config), cfg_options=options,
                        depends_on=(run_name(base_arm(arm).name, seed)
                                    if arm.init != 'scratch' else None)))
    return runs
