"""The experiment plan: which runs exist, what each gets, and which sizes are refused."""
import os.path as osp

import pytest

from experiments.scalenet_evidence.experiment import (ARMS, ARMS_BY_NAME, PRETRAIN, Settings,
                                             arm_epochs, plan_runs)


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
    settings = Settings(layers=3, epochs=4, pretrain_epochs=9, scratch_factor=3, lora_rank=5,
                        seeds=(7,))
    runs = {r.arm.name: r for r in plan_runs(settings, '/w', '/data')}
    assert runs['pretrain'].cfg_options['model.backbone.arch.num_layers'] == 3
    assert runs['pretrain'].cfg_options['train_cfg.max_epochs'] == 9
    assert runs['scratch'].cfg_options['model.backbone.arch.num_layers'] == 6
    assert runs['scratch'].cfg_options['train_cfg.max_epochs'] == 12
    assert runs['stacking'].cfg_options['model.backbone.arch.num_layers'] == 6
    for name in ('scalenet', 'shared_noadapter', 'interleave', 'gate', 'continue'):
        # shared arms keep L source layers (their configs run them at depth 2.0)
        assert runs[name].cfg_options['model.backbone.arch.num_layers'] == 3
        assert runs[name].cfg_options['train_cfg.max_epochs'] == 4
    for name in ('scalenet', 'interleave', 'gate'):
        assert runs[name].cfg_options['model.backbone.adapter.rank'] == 5
    assert 'model.backbone.adapter.rank' not in runs['shared_noadapter'].cfg_options
    assert arm_epochs(ARMS_BY_NAME['scratch'], settings) == 12


def test_same_recipe_for_every_arm_except_depth_epochs_init_and_lr():
    settings = Settings(seeds=(0,), lr=2e-3, growth_lr=4e-4)
    runs = plan_runs(settings, '/w', '/data')
    for run in runs:  # the fine-tuning rate for every run that starts from the pretrained model
        expected = 2e-3 if run.arm.init == 'scratch' else 4e-4
        assert run.cfg_options['optim_wrapper.optimizer.lr'] == expected, run.name
    arm_keys = {'model.backbone.arch.num_layers', 'train_cfg.max_epochs',
                'model.backbone.adapter.rank', 'optim_wrapper.optimizer.lr'}
    shared = [{k: v for k, v in r.cfg_options.items() if k not in arm_keys} for r in runs]
    assert all(s == shared[0] for s in shared)
    assert shared[0]['train_dataloader.dataset.indices'] == settings.train_size
    assert all(shared[0][f'{loader}.dataset.data_root'] == '/data'
               for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'))


def test_selecting_growth_arms_adds_their_pretrained_run():
    runs = plan_runs(Settings(seeds=(0,)), '/w', '/d', arms=(ARMS_BY_NAME['scalenet'], ))
    assert [r.arm.name for r in runs] == ['pretrain', 'scalenet']
    runs = plan_runs(Settings(seeds=(0,)), '/w', '/d', arms=(ARMS_BY_NAME['scratch'], ))
    assert [r.arm.name for r in runs] == ['scratch']


@pytest.mark.parametrize('kwargs, message', [
    (dict(epochs=1), 'epochs=1'),
    (dict(embed_dims=30, num_heads=4), 'multiple'),
    (dict(patch_size=5), 'divide 28'),
    (dict(seeds=()), 'seed'),
    (dict(growth_lr=0.0), 'growth_lr'),
])
def test_invalid_settings_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Settings(**kwargs).validate()


def test_fingerprint_ignores_seeds_but_not_sizes():
    assert Settings(seeds=(0,)).fingerprint() == Settings(seeds=(1, 2)).fingerprint()
    assert Settings(epochs=4).fingerprint() != Settings(epochs=5).fingerprint()


def test_growth_lr_makes_only_the_growth_runs_stale():
    old, new = Settings(growth_lr=3e-4), Settings(growth_lr=1e-4)
    for arm in ARMS:
        same = old.fingerprint(arm) == new.fingerprint(arm)
        assert same == (arm.init == 'scratch'), arm.name
    assert old.fingerprint() != new.fingerprint()
    assert Settings(lr=1e-3).fingerprint(PRETRAIN) != Settings(lr=2e-3).fingerprint(PRETRAIN)
