"""The experiment plan: which runs exist, what each gets, and which sizes are refused."""
import os.path as osp

import pytest

from mmengine.config import Config

from experiments.scalenet_evidence.experiment import (ARMS, ARMS_BY_NAME, PRETRAIN, Settings,
                                                      arm_epochs, plan_runs)
from experiments.scalenet_evidence.report import markdown_report, summarise


def test_plan_has_every_arm_for_every_seed_with_pretrained_dependencies():
    settings = Settings(seeds=(0, 1, 2))
    runs = plan_runs(settings, '/w', '/data')
    assert len(runs) == len(ARMS) * 3
    assert [r.arm.name for r in runs[:3]] == ['pretrain'] * 3  # they unblock the others
    by_name = {r.name: r for r in runs}
    for run in runs:
        assert run.cfg_options['randomness.seed'] == run.seed
        assert run.work_dir == osp.join('/w', 'runs', run.name)
        assert osp.isfile(run.config), run.config
        if run.arm.init == 'scratch':
            assert run.depends_on is None
        else:
            assert by_name[run.depends_on].arm is PRETRAIN
            assert by_name[run.depends_on].seed == run.seed


def test_depths_epochs_and_adapter_ranks_follow_the_settings():
    settings = Settings(layers=3, epochs=4, pretrain_epochs=9, lora_rank=5, seeds=(7,))
    runs = {r.arm.name: r for r in plan_runs(settings, '/w', '/data')}
    assert runs['pretrain'].cfg_options['model.backbone.arch.num_layers'] == 3
    assert runs['pretrain'].cfg_options['train_cfg.max_epochs'] == 9
    assert runs['scratch'].cfg_options['model.backbone.arch.num_layers'] == 6
    # the paper's protocol: the deep model from scratch trains as long as the base
    assert runs['scratch'].cfg_options['train_cfg.max_epochs'] == 9
    assert runs['stacking'].cfg_options['model.backbone.arch.num_layers'] == 6
    for name in ('scalenet', 'shared_noadapter', 'interleave', 'gate', 'continue'):
        # shared arms keep L source layers; the grown ones run them at depth `scale`
        assert runs[name].cfg_options['model.backbone.arch.num_layers'] == 3
        assert runs[name].cfg_options['train_cfg.max_epochs'] == 4
        grown = name != 'continue'
        assert runs[name].cfg_options.get('model.backbone.depth') == (2.0 if grown else None)
    for name in ('scalenet', 'interleave', 'gate'):
        assert runs[name].cfg_options['model.backbone.adapter.rank'] == 5
    assert 'model.backbone.adapter.rank' not in runs['shared_noadapter'].cfg_options
    assert arm_epochs(ARMS_BY_NAME['scratch'], Settings(scratch_epochs=20)) == 20


def test_a_scale_of_three_grows_every_deep_arm_to_3l():
    runs = {r.arm.name: r for r in plan_runs(Settings(layers=2, scale=3.0, seeds=(0,)),
                                             '/w', '/d')}
    assert runs['scratch'].cfg_options['model.backbone.arch.num_layers'] == 6
    assert runs['stacking'].cfg_options['model.backbone.arch.num_layers'] == 6
    assert runs['scalenet'].cfg_options['model.backbone.depth'] == 3.0


def test_same_recipe_for_every_arm_except_depth_epochs_init_and_lr():
    settings = Settings(seeds=(0,), lr=2e-3, growth_lr=4e-4)
    runs = plan_runs(settings, '/w', '/data')
    for run in runs:  # the fine-tuning rate for every run that starts from the pretrained model
        expected = 2e-3 if run.arm.init == 'scratch' else 4e-4
        assert run.cfg_options['optim_wrapper.optimizer.lr'] == expected, run.name
    arm_keys = {'model.backbone.arch.num_layers', 'train_cfg.max_epochs', 'model.backbone.depth',
                'model.backbone.adapter.rank', 'optim_wrapper.optimizer.lr'}
    shared = [{k: v for k, v in r.cfg_options.items() if k not in arm_keys} for r in runs]
    assert all(s == shared[0] for s in shared)
    assert shared[0]['train_dataloader.dataset.indices'] is None  # the default: all 60,000
    assert all(shared[0][f'{loader}.dataset.data_root'] == '/data'
               for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'))


def _recipe(run) -> dict:
    """What the resolved config of a run trains with, apart from its backbone and init."""
    cfg = Config.fromfile(run.config)
    cfg.merge_from_dict(run.cfg_options)
    optim = cfg.optim_wrapper.to_dict()
    optim['optimizer'].pop('lr')
    head = cfg.model.head.to_dict()
    head.pop('init_cfg')
    train_cfg = cfg.train_cfg.to_dict()
    train_cfg.pop('max_epochs')
    return dict(data=[cfg[k].to_dict() for k in ('train_dataloader', 'val_dataloader',
                                                 'test_dataloader')],
                optim=optim, schedule=[dict(s) for s in cfg.param_scheduler], head=head,
                train_cfg=train_cfg, hooks=cfg.default_hooks.to_dict(),
                evaluator=[cfg.val_evaluator, cfg.test_evaluator], seed=cfg.randomness.seed)


def test_every_arm_resolves_to_one_recipe():
    """The shipped configs and the ablation configs differ in nothing but the backbone, its
    initialisation, the epochs and the learning rate the experiment sets: one recipe."""
    runs = plan_runs(Settings(seeds=(0,)), '/w', '/data')
    recipes = {run.arm.name: _recipe(run) for run in runs}
    # the one arm whose recipe differs on purpose: its adapters' own learning rate
    keys = recipes['adapter_lr4']['optim']['paramwise_cfg']['custom_keys']
    assert keys.pop('backbone.instances.') == {'lr_mult': 4.0}
    for name, recipe in recipes.items():
        assert recipe == recipes['pretrain'], name
    assert {osp.basename(osp.dirname(run.config)) for run in runs} == {'fashion_mnist',
                                                                        'configs'}


def test_selecting_growth_arms_adds_their_pretrained_run():
    runs = plan_runs(Settings(seeds=(0,)), '/w', '/d', arms=(ARMS_BY_NAME['scalenet'], ))
    assert [r.arm.name for r in runs] == ['pretrain', 'scalenet']
    runs = plan_runs(Settings(seeds=(0,)), '/w', '/d', arms=(ARMS_BY_NAME['scratch'], ))
    assert [r.arm.name for r in runs] == ['scratch']


@pytest.mark.parametrize('kwargs, message', [
    (dict(epochs=0), 'epochs=0'),
    (dict(embed_dims=30, num_heads=4), 'multiple'),
    (dict(patch_size=5), 'divide 28'),
    (dict(seeds=()), 'seed'),
    (dict(growth_lr=0.0), 'growth_lr'),
    (dict(train_size=60001), 'train_size'),
    (dict(test_size=-1), 'test_size'),
    (dict(scale=1.0), 'scale'),
])
def test_invalid_settings_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Settings(**kwargs).validate()


def test_fingerprint_ignores_seeds_and_test_size_but_not_training_sizes():
    assert Settings(seeds=(0,)).fingerprint() == Settings(seeds=(1, 2)).fingerprint()
    assert Settings(test_size=10).fingerprint() == Settings(test_size=0).fingerprint()
    assert Settings(epochs=4).fingerprint() != Settings(epochs=5).fingerprint()
    assert Settings(train_size=0).fingerprint() != Settings(train_size=10000).fingerprint()
    # the base does not depend on the growth arms' epochs, rank or depth factor
    assert Settings(epochs=4, lora_rank=2, scale=3.0).fingerprint(PRETRAIN) == \
        Settings(epochs=5, lora_rank=4).fingerprint(PRETRAIN)


def test_growth_lr_makes_only_the_growth_runs_stale():
    old, new = Settings(growth_lr=3e-4), Settings(growth_lr=1e-4)
    for arm in ARMS:
        same = old.fingerprint(arm) == new.fingerprint(arm)
        assert same == (arm.init == 'scratch'), arm.name
    assert old.fingerprint() != new.fingerprint()
    assert Settings(lr=1e-3).fingerprint(PRETRAIN) != Settings(lr=2e-3).fingerprint(PRETRAIN)


def test_growth_drop_path_reaches_only_the_runs_from_the_base():
    """``growth_drop_path`` gives every run that starts from the base (growth arms and the
    control) stochastic depth rising linearly over its instances, as built by the backbone
    from the resolved config; the runs from scratch keep none and stay fresh."""
    from mmpretrain.registry import MODELS

    settings = Settings(seeds=(0,), growth_drop_path=0.3)
    for run in plan_runs(settings, '/w', '/d'):
        if run.arm.name not in ('pretrain', 'scratch', 'scalenet', 'stacking', 'continue'):
            continue
        cfg = Config.fromfile(run.config)
        cfg.merge_from_dict(run.cfg_options)
        cfg.model.backbone.init_cfg = None
        backbone = MODELS.build(cfg.model.backbone)
        rates = [instance.drop_path_rate for instance in backbone.instances]
        if run.arm.init == 'scratch':
            assert rates == [0.0] * len(rates), run.name
        else:
            assert rates == pytest.approx([0.3 * i / (len(rates) - 1)
                                           for i in range(len(rates))]), run.name
    default = Settings()
    for arm in ARMS:
        stale = settings.fingerprint(arm) != default.fingerprint(arm)
        assert stale == (arm.init != 'scratch'), arm.name
    with pytest.raises(ValueError, match='growth_drop_path'):
        Settings(growth_drop_path=1.0).validate()
    with pytest.raises(ValueError, match='ViT arms only'):
        plan_runs(settings, '/w', '/d', (ARMS_BY_NAME['swin_scalenet'],))


@pytest.mark.parametrize('train_size, images', [(0, 60000), (10000, 10000), (512, 512)])
def test_the_report_states_the_data_every_resolved_config_uses(train_size, images):
    """The sizes the report prints are those of the configs the runs resolve to: a size of 0
    means the whole split (``indices=None``), not the recipe's default subset."""
    settings = Settings(train_size=train_size, val_size=0, test_size=500, seeds=(0,))
    for run in plan_runs(settings, '/w', '/data'):
        cfg = Config.fromfile(run.config)
        cfg.merge_from_dict(run.cfg_options)
        indices = cfg.train_dataloader.dataset.get('indices')
        assert (60000 if indices is None else indices) == images, run.name
        assert cfg.val_dataloader.dataset.get('indices') is None, run.name  # all 10,000
        assert cfg.test_dataloader.dataset.indices == 500, run.name
        assert cfg.train_cfg.max_epochs == arm_epochs(run.arm, settings)
    report = markdown_report(summarise({}, settings), settings, 'cmd')
    assert f'training images: {images:,} ' in report
    assert 'the first 10,000 test images' in report and 'the first 500 test images' in report

def test_adapter_lr_arm_gives_only_the_adapters_four_times_the_growth_lr():
    """mmengine's optimizer constructor, on the resolved config: every LoRA tensor (under
    ``backbone.instances.``) at 4x the growth lr, the shared pretrained weights at 1x."""
    from mmengine.optim import build_optim_wrapper
    from mmpretrain.registry import MODELS

    settings = Settings(seeds=(0,), growth_lr=5e-4)
    run = {r.arm.name: r for r in plan_runs(settings, '/w', '/d')}['adapter_lr4']
    cfg = Config.fromfile(run.config)
    cfg.merge_from_dict(run.cfg_options)
    cfg.model.backbone.init_cfg = None
    cfg.model.head.init_cfg = None
    model = MODELS.build(cfg.model)
    optimizer = build_optim_wrapper(model, cfg.optim_wrapper).optimizer
    lr_of = {id(p): group['lr'] for group in optimizer.param_groups for p in group['params']}
    names = dict(model.named_parameters())
    lora = [n for n in names if '.lora_' in n]
    assert lora and all(lr_of[id(names[n])] == pytest.approx(2e-3) for n in lora)
    shared = [n for n in names if n.startswith('backbone.layers.')]
    assert shared and all(lr_of[id(names[n])] == pytest.approx(5e-4) for n in shared)


def test_study_and_regime_arms_get_their_own_rank_epochs_and_adapters():
    settings = Settings(pretrain_epochs=8, epochs=3, lora_rank=4, seeds=(0,))
    runs = {r.arm.name: r for r in plan_runs(settings, '/w', '/d')}
    assert runs['pretrain_long'].cfg_options['train_cfg.max_epochs'] == 12
    assert runs['pretrain_long'].depends_on is None
    assert runs['lora_rank1'].cfg_options['model.backbone.adapter.rank'] == 1
    assert runs['lora_rank16'].cfg_options['model.backbone.adapter.rank'] == 16
    assert runs['scalenet'].cfg_options['model.backbone.adapter.rank'] == 4
    for name in ('bottleneck', 'lora_inserted', 'adapter_lr4', 'lora_rank1'):
        assert runs[name].depends_on == 'pretrain_seed0'
        assert runs[name].cfg_options['train_cfg.max_epochs'] == 3
    adapters = {}
    for name in ('bottleneck', 'lora_inserted'):
        cfg = Config.fromfile(runs[name].config)
        cfg.merge_from_dict(runs[name].cfg_options)
        adapters[name] = cfg.model.backbone.adapter
    assert adapters['bottleneck'].type == 'bottleneck' and 'rank' not in adapters['bottleneck']
    assert adapters['lora_inserted'].apply_to == 'inserted'


def _built_optimizer(run):
    """The model and optimizer that mmengine builds from a run's resolved config (no init)."""
    from mmengine.optim import build_optim_wrapper
    from mmpretrain.registry import MODELS

    cfg = Config.fromfile(run.config)
    cfg.merge_from_dict(run.cfg_options)
    cfg.model.backbone.init_cfg = None
    cfg.model.head.init_cfg = None
    model = MODELS.build(cfg.model)
    return model, build_optim_wrapper(model, cfg.optim_wrapper).optimizer


def test_diagnosis_arms_run_only_when_named_and_change_one_thing():
    """``instance_norm`` and ``adapter_nowd`` are not in the default experiment; named, each
    starts from the seed's base at E' and differs from ScaleNet's recipe in its one setting."""
    assert not {'instance_norm', 'adapter_nowd'} & {arm.name for arm in ARMS}
    arms = tuple(ARMS_BY_NAME[name] for name in ('scalenet', 'instance_norm', 'adapter_nowd'))
    settings = Settings(seeds=(0,), epochs=3)
    runs = {r.arm.name: r for r in plan_runs(settings, '/w', '/d', arms)}
    for name in ('instance_norm', 'adapter_nowd'):
        assert runs[name].depends_on == 'pretrain_seed0'
        assert runs[name].cfg_options == runs['scalenet'].cfg_options
    recipes = {name: _recipe(runs[name]) for name in runs}
    keys = recipes['adapter_nowd']['optim']['paramwise_cfg']['custom_keys']
    assert keys.pop('backbone.instances.') == {'decay_mult': 0.0}
    assert recipes['adapter_nowd'] == recipes['instance_norm'] == recipes['scalenet']

    model, optimizer = _built_optimizer(runs['adapter_nowd'])
    decay_of = {id(p): g['weight_decay'] for g in optimizer.param_groups for p in g['params']}
    names = dict(model.named_parameters())
    lora = [n for n in names if '.lora_' in n]
    assert lora and all(decay_of[id(names[n])] == 0.0 for n in lora)
    shared = [n for n in names if n.startswith('backbone.layers.') and n.endswith('qkv.weight')]
    assert shared and all(decay_of[id(names[n])] == pytest.approx(0.05) for n in shared)

    model, _ = _built_optimizer(runs['instance_norm'])
    norms = [n for n in dict(model.named_parameters()) if n.startswith('backbone.instances.')
             and 'ln' in n]
    # every one of the 2L instances has its own norms
    assert len({n.split('.')[2] for n in norms}) == settings.deep_layers == 2 * settings.layers


def test_shared_lr_diagnosis_arms_change_only_the_shared_tensors_rate():
    """``shared_lr01`` / ``shared_noadapter_lr01`` train the shared layers at 0.1x the growth
    lr and everything else at 1x; ``lora_inserted_frozen`` freezes the shared layers (lr 0, no
    decay) and adapts only the inserted instances. None is in the default experiment."""
    names = ('shared_lr01', 'shared_noadapter_lr01', 'lora_inserted_frozen')
    assert not set(names) & {arm.name for arm in ARMS}
    settings = Settings(seeds=(0,), epochs=3)
    arms = tuple(ARMS_BY_NAME[name] for name in ('scalenet', 'shared_noadapter') + names)
    runs = {r.arm.name: r for r in plan_runs(settings, '/w', '/d', arms)}
    growth_lr = settings.growth_lr
    expected = dict(shared_lr01=(0.1, 0.05), shared_noadapter_lr01=(0.1, 0.05),
                    lora_inserted_frozen=(0.0, 0.0))
    for name, (lr_mult, shared_decay) in expected.items():
        assert runs[name].depends_on == 'pretrain_seed0'
        model, optimizer = _built_optimizer(runs[name])
        group_of = {id(p): g for g in optimizer.param_groups for p in g['params']}
        for param_name, param in model.named_parameters():
            group = group_of[id(param)]
            if param_name.startswith('backbone.layers.'):
                assert group['lr'] == pytest.approx(lr_mult * growth_lr), param_name
                if param_name.endswith('.weight') and param.dim() == 2:
                    assert group['weight_decay'] == pytest.approx(shared_decay), param_name
            else:
                assert group['lr'] == pytest.approx(growth_lr), param_name
        instances_with_lora = {n.split('.')[2] for n, _ in model.named_parameters()
                               if '.lora_' in n}
        if name == 'shared_noadapter_lr01':
            assert not instances_with_lora
        elif name == 'lora_inserted_frozen':  # the second use of each of the L layers
            assert instances_with_lora == {str(i) for i in range(settings.layers,
                                                                  settings.deep_layers)}
        else:
            assert len(instances_with_lora) == settings.deep_layers
    # the recipes differ from their reference arms only in the optimizer's custom keys
    recipes = {name: _recipe(runs[name]) for name in runs}
    for name, reference in (('shared_lr01', 'scalenet'),
                            ('shared_noadapter_lr01', 'shared_noadapter')):
        keys = recipes[name]['optim']['paramwise_cfg']['custom_keys']
        assert keys.pop('backbone.layers.') == {'lr_mult': 0.1}
        assert recipes[name] == recipes[reference]


def test_scalenet_architecture_from_scratch_is_the_scalenet_model_without_pretrained_weights():
    """``scalenet_scratch`` (run when named) trains ScaleNet's model, L shared layers run as
    ``scale * L`` LoRA instances, from scratch for E epochs at the from-scratch lr: it depends
    on no base run, loads no checkpoint, and its fingerprint follows the scale and the rank
    (which the other runs from scratch ignore) but not the growth arms' epochs or lr."""
    arm = ARMS_BY_NAME['scalenet_scratch']
    assert arm not in ARMS
    settings = Settings(seeds=(0,), pretrain_epochs=9, epochs=3, lr=2e-3, growth_lr=5e-4)
    runs = {r.arm.name: r for r in plan_runs(settings, '/w', '/d', (ARMS_BY_NAME['scalenet'], arm))}
    run, scalenet = runs['scalenet_scratch'], runs['scalenet']
    assert run.depends_on is None
    assert run.cfg_options['train_cfg.max_epochs'] == 9
    assert run.cfg_options['optim_wrapper.optimizer.lr'] == 2e-3
    for key in ('model.backbone.arch.num_layers', 'model.backbone.depth',
                'model.backbone.adapter.rank'):
        assert run.cfg_options[key] == scalenet.cfg_options[key]
    cfg = Config.fromfile(run.config)
    cfg.merge_from_dict(run.cfg_options)
    assert cfg.model.backbone.get('init_cfg') is None
    assert cfg.model.head.init_cfg.type == 'TruncNormal'
    reference = Config.fromfile(scalenet.config)
    reference.merge_from_dict(scalenet.cfg_options)
    for key in ('layer_map', 'adapter', 'depth', 'arch'):
        assert cfg.model.backbone[key] == reference.model.backbone[key]

    model, _ = _built_optimizer(run)
    assert len(model.backbone.layers) == settings.layers
    assert len(model.backbone.instances) == settings.deep_layers

    fingerprint = settings.fingerprint(arm)
    assert Settings(seeds=(0,), pretrain_epochs=9, epochs=5, growth_lr=1e-3,
                    lr=2e-3).fingerprint(arm) == fingerprint
    assert Settings(seeds=(0,), pretrain_epochs=9, epochs=3, lora_rank=8,
                    lr=2e-3, growth_lr=5e-4).fingerprint(arm) != fingerprint
    assert Settings(seeds=(0,), pretrain_epochs=9, epochs=3, scale=3.0,
                    lr=2e-3, growth_lr=5e-4).fingerprint(arm) != fingerprint
    # the plain runs from scratch keep ignoring the rank (their finished runs stay valid)
    assert (Settings(seeds=(0,), lora_rank=8).fingerprint(PRETRAIN)
            == Settings(seeds=(0,)).fingerprint(PRETRAIN))
