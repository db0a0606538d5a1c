"""A seconds-long mmengine training set-up for in-process reliability tests.

Real mmengine ``Runner``, real hooks (the project's ``SafeCheckpointHook`` included), a tiny
model that draws from torch's generator (dropout) and a dataset that draws from numpy's
(noise added while loading, in the main process): exactly the kinds of randomness that an
inexact resume gets wrong.
"""
import os.path as osp
from typing import Any, Dict, Iterable, List, Optional, Sequence

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.evaluator import BaseMetric, Evaluator
from mmengine.hooks import Hook
from mmengine.logging import MessageHub
from mmengine.model import BaseModel
from mmengine.runner import Runner
from torch.utils.data import Dataset

import scalenet_mm  # noqa: F401  (SafeCheckpointHook, by its own name)

NUM_FEATURES = 8
NUM_CLASSES = 3


class ToyDataset(Dataset):
    """24 fixed samples; every load adds numpy noise (random augmentation)."""

    def __init__(self, size: int = 24) -> None:
        gen = torch.Generator().manual_seed(1234)
        self.x = torch.randn(size, NUM_FEATURES, generator=gen)
        self.y = torch.randint(0, NUM_CLASSES, (size,), generator=gen)
        self.metainfo: Dict[str, Any] = dict(classes=('a', 'b', 'c'))

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, index: int) -> Dict[str, torch.Tensor]:
        noise = torch.from_numpy(np.random.normal(0, 0.1, NUM_FEATURES).astype(np.float32))
        return dict(inputs=self.x[index] + noise, target=self.y[index])


class ToyModel(BaseModel):
    """Linear - ReLU - Dropout - Linear with two loss terms (``loss_cls``, ``loss_reg``).

    ``poison_iters``: 0-based training iterations whose ``loss_cls`` is made NaN.
    """

    def __init__(self, poison_iters: Iterable[int] = ()) -> None:
        super().__init__()
        self.fc1 = nn.Linear(NUM_FEATURES, 16)
        self.drop = nn.Dropout(0.5)
        self.fc2 = nn.Linear(16, NUM_CLASSES)
        self.poison_iters = set(poison_iters)

    def forward(self, inputs: torch.Tensor, target: torch.Tensor, mode: str = 'tensor') -> Any:
        logits = self.fc2(self.drop(F.relu(self.fc1(inputs))))
        if mode == 'loss':
            loss_cls = F.cross_entropy(logits, target)
            if MessageHub.get_current_instance().get_info('iter') in self.poison_iters:
                loss_cls = loss_cls * float('nan')
            return dict(loss_cls=loss_cls, loss_reg=1e-3 * logits.pow(2).mean())
        if mode == 'predict':
            return [dict(pred=p, gt=t) for p, t in zip(logits.argmax(1), target)]
        return logits


class ToyAccuracy(BaseMetric):
    """Top-1 accuracy of :class:`ToyModel` predictions."""

    def process(self, data_batch: Any, data_samples: Sequence[dict]) -> None:
        self.results.extend(float(s['pred'] == s['gt']) for s in data_samples)

    def compute_metrics(self, results: List[float]) -> Dict[str, float]:
        return dict(accuracy=float(np.mean(results)))


def make_runner(work_dir: str, max_iters: int = 8, checkpoint: Optional[dict] = None,
                val_interval: Optional[int] = 2, resume: bool = False,
                custom_hooks: Optional[List[dict]] = None, model: Optional[BaseModel] = None,
                name: str = 'toy', by_epoch: bool = False, **runner_kwargs: Any) -> Runner:
    """A Runner on :class:`ToyModel` / :class:`ToyDataset` (seed 0).

    Args:
        work_dir: where checkpoints and logs go.
        max_iters: training length.
        checkpoint: ``default_hooks.checkpoint`` (default: every 2 iterations, keep 1).
        val_interval: validate every this many iterations (None: no validation).
        resume: resume from the work dir's ``last_checkpoint``.
        custom_hooks: more hooks.
        model: the model (default: a :class:`ToyModel` initialised from seed 0).
        name: experiment name (several runners may live in one test).
        by_epoch: epoch-based instead: ``max_iters`` counts epochs (6 iterations each), the
            sampler reshuffles per epoch, checkpoints every epoch (keep 1), validation every
            ``val_interval`` epochs.
        runner_kwargs: more ``Runner`` arguments (``launcher``, ``cfg``, ...).
    """
    loader = dict(batch_size=4, num_workers=0, dataset=ToyDataset(),
                  sampler=dict(type='DefaultSampler' if by_epoch else 'InfiniteSampler',
                               shuffle=True),
                  collate_fn=dict(type='default_collate'))
    kwargs: Dict[str, Any] = {}
    if val_interval is not None:
        val_loader = dict(loader, sampler=dict(type='DefaultSampler', shuffle=False))
        kwargs.update(val_dataloader=val_loader, val_cfg=dict(),
                      val_evaluator=Evaluator([ToyAccuracy()]))
    if model is None:
        torch.manual_seed(0)  # the Runner seeds only after the model exists
        model = ToyModel()
    return Runner(
        model=model,
        work_dir=work_dir,
        experiment_name=f'{name}_{osp.basename(work_dir)}',
        train_dataloader=loader,
        train_cfg=(dict(by_epoch=True, max_epochs=max_iters, val_interval=val_interval or
                        max_iters + 1) if by_epoch else
                   dict(by_epoch=False, max_iters=max_iters,
                        val_interval=val_interval or max_iters + 1)),
        optim_wrapper=dict(optimizer=dict(type='AdamW', lr=0.05, weight_decay=0.01)),
        param_scheduler=[dict(type='CosineAnnealingLR', T_max=max_iters, by_epoch=by_epoch)],
        default_hooks=dict(
            checkpoint=checkpoint or dict(type='SafeCheckpointHook',
                                          interval=1 if by_epoch else 2,
                                          by_epoch=by_epoch, max_keep_ckpts=1),
            logger=dict(type='LoggerHook', interval=1)),
        custom_hooks=list(custom_hooks or []),
        resume=resume,
        randomness=dict(seed=0),
        default_scope='mmengine',
        log_level='WARNING',
        **kwargs, **runner_kwargs)


def weights(runner_or_module: Any) -> Dict[str, torch.Tensor]:
    """A detached copy of the (unwrapped) model's state dict."""
    model = getattr(runner_or_module, 'model', runner_or_module)
    model = getattr(model, 'module', model)
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


class Crash(Exception):
    """A simulated crash (raised by :class:`CrashBeforeIter`)."""


class CrashBeforeIter(Hook):
    """Raise :class:`Crash` when training reaches 0-based iteration ``at``."""

    priority = 'VERY_HIGH'

    def __init__(self, at: int) -> None:
        self.at = at

    def before_train_iter(self, runner, batch_idx: int, data_batch: Any = None) -> None:
        if runner.iter == self.at:
            raise Crash(f'simulated crash before iteration {self.at}')
