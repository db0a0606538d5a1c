"""NonFiniteLossHook with a real mmengine Runner: a NaN loss stops training before the
optimizer step (weights = last checkpoint's, message names iteration and term), or the step
is skipped and training goes on; without the hook the NaN reaches the weights."""
import math

import pytest
import torch
import torch.distributed as torch_dist
from mmengine.model import MMDistributedDataParallel
from mmdet.registry import HOOKS as DET_HOOKS
from mmpretrain.registry import HOOKS as PRETRAIN_HOOKS
from toy_training import ToyModel, make_runner, weights

from scalenet_mm.engine.hooks import NonFiniteLossHook

MAX_ITERS = 8
POISON = 4  # 0-based iteration whose loss_cls is NaN; logs and messages call it iteration 5


def run(tmp_path, hook=None, poison=(POISON,), **runner_kwargs):
    torch.manual_seed(0)
    runner = make_runner(str(tmp_path), MAX_ITERS, val_interval=None,
                         model=ToyModel(poison_iters=poison),
                         custom_hooks=[hook] if hook is not None else [], **runner_kwargs)
    return runner


@pytest.fixture
def gloo_world_of_one(monkeypatch):
    """A real gloo process group of one process, destroyed afterwards (the environment
    variables the Runner reads in distributed mode are set for the test only)."""
    for name, value in dict(LOCAL_RANK='0', RANK='0', WORLD_SIZE='1', OMP_NUM_THREADS='1',
                            MKL_NUM_THREADS='1').items():
        monkeypatch.setenv(name, value)
    torch_dist.init_process_group('gloo', store=torch_dist.HashStore(), rank=0, world_size=1)
    try:
        yield
    finally:
        torch_dist.destroy_process_group()


def all_finite(state) -> bool:
    return all(bool(torch.isfinite(v).all()) for v in state.values())


@pytest.mark.parametrize('registry', [PRETRAIN_HOOKS, DET_HOOKS])
def test_registered_for_mmpretrain_and_mmdet_configs(registry):
    # As the Runner builds a config's hooks: in the config's default scope.
    with registry.switch_scope_and_registry(registry.scope) as scoped:
        hook = scoped.build(dict(type='NonFiniteLossHook', action='skip'))
    assert isinstance(hook, NonFiniteLossHook) and hook.action == 'skip'


def test_raise_stops_before_the_update_and_names_iteration_and_term(tmp_path):
    runner = run(tmp_path, NonFiniteLossHook())
    with pytest.raises(FloatingPointError) as info:
        runner.train()
    message = str(info.value)
    assert 'training iteration 5' in message and 'loss_cls=nan' in message
    assert 'loss_reg' not in message  # the finite term is not blamed
    last = str(tmp_path / 'iter_4.pth')
    assert last in message and '--resume' in message
    # Nothing was updated by the bad batch: the weights are those of the last checkpoint.
    saved = torch.load(last, weights_only=False)['state_dict']
    current = weights(runner)
    assert all(torch.equal(saved[k], current[k]) for k in saved)
    assert (tmp_path / 'last_checkpoint').read_text() == last


def test_without_the_hook_the_nan_reaches_the_weights(tmp_path):
    """Control: the bad batch would otherwise poison the model and every later checkpoint."""
    runner = run(tmp_path, hook=None)
    runner.train()
    assert not all_finite(weights(runner))


def test_skip_drops_the_bad_step_and_training_continues(tmp_path):
    hook = NonFiniteLossHook(action='skip')
    runner = run(tmp_path, hook)
    runner.train()
    assert runner.iter == MAX_ITERS
    assert hook.skipped_iters == [POISON + 1]
    assert all_finite(weights(runner))
    # One optimizer step fewer than iterations: the skipped batch did not step AdamW.
    steps = {float(s['step']) for s in runner.optim_wrapper.optimizer.state.values()}
    assert steps == {MAX_ITERS - 1.0}
    # The original methods are back after training.
    assert 'train_step' not in vars(runner.model) and 'parse_losses' not in vars(runner.model)


def test_skip_under_distributed_data_parallel(tmp_path, gloo_world_of_one):
    """The DDP path: the wrapper's train_step is guarded, the module's parse_losses checked,
    every process agrees through an all-reduce, and DDP accepts the skipped backward."""
    hook = NonFiniteLossHook(action='skip')
    runner = run(tmp_path, hook, launcher='pytorch',
                 cfg=dict(model_wrapper_cfg=dict(type='MMDistributedDataParallel',
                                                 device_ids=None)))
    runner.train()
    assert isinstance(runner.model, MMDistributedDataParallel)
    assert hook.skipped_iters == [POISON + 1] and runner.iter == MAX_ITERS
    assert all_finite(weights(runner))
    steps = {float(s['step']) for s in runner.optim_wrapper.optimizer.state.values()}
    assert steps == {MAX_ITERS - 1.0}


def test_skip_gives_up_after_too_many_consecutive_bad_steps(tmp_path):
    runner = run(tmp_path, NonFiniteLossHook(action='skip', max_consecutive_skips=3),
                 poison=(2, 3, 4))
    with pytest.raises(FloatingPointError, match=r'3 consecutive iterations up to training '
                                                 r'iteration 5: loss_cls=nan'):
        runner.train()
    assert all_finite(weights(runner))


@pytest.mark.parametrize('kwargs,bad', [
    (dict(action='ignore'), "action='ignore'"),
    (dict(action='skip', max_consecutive_skips=0), 'max_consecutive_skips=0'),
])
def test_bad_arguments_are_named(kwargs, bad):
    with pytest.raises(ValueError) as info:
        NonFiniteLossHook(**kwargs)
    assert bad in str(info.value)


def test_terms_named_are_the_non_finite_losses():
    from scalenet_mm.engine.hooks.nonfinite_loss_hook import _nonfinite_terms
    terms = _nonfinite_terms(dict(loss=torch.tensor(math.inf), loss_cls=torch.tensor(math.inf),
                                  loss_bbox=torch.tensor(1.0), acc=torch.tensor(math.nan),
                                  loss_mask=[torch.tensor(1.0)]))
    assert terms == dict(loss_cls=math.inf)
    # Terms can be finite while their sum overflows: then the total is what is named.
    assert _nonfinite_terms(dict(loss=torch.tensor(math.inf), loss_cls=torch.tensor(3e38))) \
        == dict(loss=math.inf)
