"""The evidence experiment: its sizes, its arms and the training runs they expand to.

One *arm* is one way of getting a 2L-layer model (or the L-layer pretrained model itself);
one *run* is an arm trained with one seed by ``tools/train.py``. Every run of a seed shares
the data subset, recipe and seed; arms differ only in the backbone, its initialisation and
the number of epochs (E for pretraining, E' for growth arms, ``scratch_factor`` x E' for the
from-scratch baseline), as in the paper's comparison.
"""
import hashlib
import json
import os.path as osp
from dataclasses import asdict, dataclass, field
from typing import Any, Dict, List, Optional, Tuple

#: The repository root (``tools/train.py`` and the configs' ``_base_`` files live there).
REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
#: The experiment's configs, wherever the command is run from.
CONFIG_DIR = osp.join(REPO_ROOT, 'experiments', 'configs')


@dataclass(frozen=True)
class Settings:
    """Sizes of the experiment (all exposed as ``experiments/reproduce_scalenet.py`` options).

    Attributes:
        layers: L, depth of the pretrained ViT (the grown models have 2L instances).
        embed_dims, num_heads, feedforward_channels: ViT width.
        patch_size: patch side on the 28x28 images (7 gives a 4x4 token grid).
        lora_rank: LoRA rank of the ScaleNet arms.
        pretrain_epochs: E, epochs of the pretrained L-layer model.
        epochs: E', epochs of every growth arm.
        scratch_factor: the from-scratch 2L model trains ``scratch_factor * E'`` epochs.
        train_size: the first ``train_size`` training images are used (0 = all 60,000).
        test_size: the first ``test_size`` test images are evaluated (0 = all 10,000).
        batch_size, lr: the shared recipe's batch size and AdamW peak learning rate of the
            runs that start from scratch (the pretrained L-layer model, the 2L baseline).
        growth_lr: AdamW peak learning rate of the runs that start from the pretrained
            model (every growth arm and the control). Re-warming a converged model to the
            from-scratch peak undoes much of its pretraining within the E' epochs (measured:
            the grown models fell from the pretrained 77.9 % to 71 % after their first epoch
            at lr 1e-3 and only climbed back to 77.3-78.1 % by the second), so these runs
            get a fine-tuning rate, the same for every one of them.
        seeds: one full set of runs per seed (each seed pretrains its own L-layer model).
    """
    layers: int = 4
    embed_dims: int = 64
    num_heads: int = 4
    feedforward_channels: int = 256
    patch_size: int = 7
    lora_rank: int = 3
    pretrain_epochs: int = 12
    epochs: int = 2
    scratch_factor: int = 3
    train_size: int = 10000
    test_size: int = 0
    batch_size: int = 64
    lr: float = 1e-3
    growth_lr: float = 3e-4
    seeds: Tuple[int, ...] = (0, 1, 2)

    def validate(self) -> None:
        """Raise ValueError for sizes the configs cannot run."""
        if self.layers < 1:
            raise ValueError(f'layers={self.layers} must be >= 1')
        if self.embed_dims % self.num_heads:
            raise ValueError(f'embed_dims={self.embed_dims} must be a multiple of '
                             f'num_heads={self.num_heads}')
        if 28 % self.patch_size:
            raise ValueError(f'patch_size={self.patch_size} must divide 28')
        # one warmup epoch, then a cosine of at least one epoch
        for name in ('pretrain_epochs', 'epochs'):
            if getattr(self, name) < 2:
                raise ValueError(f'{name}={getattr(self, name)} must be >= 2 (one warmup epoch '
                                 f'and at least one cosine epoch)')
        if self.lr <= 0 or self.growth_lr <= 0:
            raise ValueError(f'lr={self.lr} and growth_lr={self.growth_lr} must be > 0')
        if self.scratch_factor < 1:
            raise ValueError(f'scratch_factor={self.scratch_factor} must be >= 1')
        if not self.seeds:
            raise ValueError('at least one seed is needed')

    @property
    def scratch_epochs(self) -> int:
        return self.scratch_factor * self.epochs

    def fingerprint(self, arm: Optional['Arm'] = None) -> str:
        """A short hash of the settings that ``arm``'s runs depend on (all of them when ``arm``
        is None), seeds excluded: a finished run with another fingerprint is stale. Runs from
        scratch do not depend on ``growth_lr``, so changing it re-runs only the growth arms."""
        values = asdict(self)
        values.pop('seeds')
        if arm is not None and arm.init == 'scratch':
            values.pop('growth_lr')
        return hashlib.sha1(json.dumps(values, sort_keys=True).encode()).hexdigest()[:12]


@dataclass(frozen=True)
class Arm:
    """One way of obtaining the model.

    Attributes:
        name: short id (work-dir name, table key).
        label: the table's and plot's description.
        config: file under ``experiments/configs``.
        source_layers: ``'L'`` or ``'2L'``: the ``arch.num_layers`` the config gets.
        epochs: ``'E'``, ``"E'"`` or ``'scratch'``.
        init: ``'scratch'``, ``'pretrained'`` (backbone and head from the seed's pretrained
            run) or ``'stacked'`` (the unshared copy of the pretrained model).
        lora: whether the config has a LoRA adapter whose rank is set.
    """
    name: str
    label: str
    config: str
    source_layers: str
    epochs: str
    init: str
    lora: bool = False


PRETRAIN = Arm('pretrain', 'pretrained ViT, L layers (E epochs)', 'vit_pretrain.py', 'L', 'E',
               'scratch')
ARMS: Tuple[Arm, ...] = (
    PRETRAIN,
    Arm('scratch', "plain 2L ViT from scratch (3E' epochs)", 'vit2x_scratch.py', '2L',
        'scratch', 'scratch'),
    Arm('scalenet', "ScaleNet 2L: cyclic + LoRA (E' epochs)", 'scalenet2x_cyclic_lora.py', 'L',
        "E'", 'pretrained', lora=True),
    Arm('shared_noadapter', "shared cyclic, no adapters (E' epochs)",
        'scalenet2x_shared_noadapter.py', 'L', "E'", 'pretrained'),
    Arm('stacking', "unshared copies / stacking (E' epochs)", 'vit2x_stacking.py', '2L', "E'",
        'stacked'),
    Arm('interleave', "ScaleNet 2L: interleaved map + LoRA (E' epochs)",
        'scalenet2x_interleave_lora.py', 'L', "E'", 'pretrained', lora=True),
    Arm('gate', "ScaleNet 2L: cyclic + LoRA + zero gates (E' epochs)",
        'scalenet2x_cyclic_lora_gate.py', 'L', "E'", 'pretrained', lora=True),
    Arm('continue', "control: pretrained L layers, E' more epochs, not grown",
        'vit_continue.py', 'L', "E'", 'pretrained'),
)
ARMS_BY_NAME: Dict[str, Arm] = {arm.name: arm for arm in ARMS}
#: The config whose step-0 model is exported as the stacked (unshared) checkpoint.
STACKING_SOURCE = 'scalenet2x_shared_noadapter.py'


@dataclass
class Run:
    """One ``tools/train.py`` invocation: an arm with a seed.

    Attributes:
        arm, seed: what is trained.
        work_dir: the run's ``--work-dir``.
        config: the config's absolute path (under :data:`CONFIG_DIR`).
        cfg_options: the ``--cfg-options`` it gets, except the init checkpoint (filled in
            when the pretrained run it depends on has finished).
        depends_on: name of the run that must finish first (the seed's pretrained run).
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


def common_options(settings: Settings, seed: int, data_root: str) -> Dict[str, Any]:
    """``--cfg-options`` shared by every run of a seed: sizes, data, recipe, seed."""
    options: Dict[str, Any] = {
        'model.backbone.arch.embed_dims': settings.embed_dims,
        'model.backbone.arch.num_heads': settings.num_heads,
        'model.backbone.arch.feedforward_channels': settings.feedforward_channels,
        'model.backbone.patch_size': settings.patch_size,
        'model.head.in_channels': settings.embed_dims,
        'train_dataloader.batch_size': settings.batch_size,
        'optim_wrapper.optimizer.lr': settings.lr,
        'randomness.seed': seed,
    }
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        options[f'{loader}.dataset.data_root'] = data_root
    if settings.train_size:
        options['train_dataloader.dataset.indices'] = settings.train_size
    if settings.test_size:
        options['val_dataloader.dataset.indices'] = settings.test_size
        options['test_dataloader.dataset.indices'] = settings.test_size
    return options


def arm_options(arm: Arm, settings: Settings) -> Dict[str, Any]:
    """``--cfg-options`` specific to an arm: its depth and its number of epochs."""
    layers = settings.layers if arm.source_layers == 'L' else 2 * settings.layers
    epochs = {'E': settings.pretrain_epochs, "E'": settings.epochs,
              'scratch': settings.scratch_epochs}[arm.epochs]
    options: Dict[str, Any] = {'model.backbone.arch.num_layers': layers,
                               'train_cfg.max_epochs': epochs}
    if arm.lora:
        options['model.backbone.adapter.rank'] = settings.lora_rank
    if arm.init != 'scratch':
        options['optim_wrapper.optimizer.lr'] = settings.growth_lr
    return options


def init_options(checkpoint: str) -> Dict[str, Any]:
    """``--cfg-options`` pointing a config's backbone and head ``init_cfg`` at a checkpoint."""
    return {'model.backbone.init_cfg.checkpoint': checkpoint,
            'model.head.init_cfg.checkpoint': checkpoint}


def arm_epochs(arm: Arm, settings: Settings) -> int:
    """How many epochs the arm trains."""
    return int(arm_options(arm, settings)['train_cfg.max_epochs'])


def plan_runs(settings: Settings, work_dir: str, data_root: str,
              arms: Tuple[Arm, ...] = ARMS) -> List[Run]:
    """Every run of the experiment: the pretrained runs first (the others wait for them), then
    seed by seed, so the first seed's complete comparison is available earliest."""
    selected = list(arms)
    if any(arm.init != 'scratch' for arm in arms) and PRETRAIN not in selected:
        selected.insert(0, PRETRAIN)
    order = [(PRETRAIN, seed) for seed in settings.seeds if PRETRAIN in selected]
    order += [(arm, seed) for seed in settings.seeds for arm in selected if arm is not PRETRAIN]
    runs: List[Run] = []
    for arm, seed in order:
        options = common_options(settings, seed, data_root)
        options.update(arm_options(arm, settings))
        runs.append(Run(arm=arm, seed=seed,
                        work_dir=osp.join(work_dir, 'runs', run_name(arm.name, seed)),
                        config=osp.join(CONFIG_DIR, arm.config), cfg_options=options,
                        depends_on=(run_name(PRETRAIN.name, seed)
                                    if arm.init != 'scratch' else None)))
    return runs
