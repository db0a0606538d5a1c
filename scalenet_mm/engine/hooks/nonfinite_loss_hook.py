"""``NonFiniteLossHook``: stop (or skip the step) when a loss is NaN/inf, before any update.

Why a hook that guards the model instead of an ``after_train_iter`` check (as mmdet's
``CheckInvalidLossHook`` does): by ``after_train_iter`` the optimizer wrapper has already
run backward and ``step()``, so the NaN is in the weights, the optimizer moments and every
later checkpoint. This hook checks the loss terms right after the model computed them
(its ``parse_losses``) and before ``optim_wrapper.update_params``:

* ``action='raise'`` (default): raise ``FloatingPointError`` naming the iteration and the
  non-finite terms (e.g. ``loss_cls=nan``). No backward and no step happen, so the weights
  and the last checkpoint on disk are the last good ones; fix the cause and ``--resume``.
* ``action='skip'``: skip backward and step for that batch (weights, optimizer state and
  gradient accumulation untouched), log a warning, and go on; after
  ``max_consecutive_skips`` non-finite iterations in a row, raise as above.

In distributed runs every process learns whether any process saw a non-finite loss (one
``all_reduce`` of a single number per iteration), so all of them raise, or all of them skip:
a process that skipped alone would leave the others waiting for its gradients.

Enable it in a config with::

    custom_hooks = [dict(type='NonFiniteLossHook', action='raise')]
"""
import math
from typing import Any, Callable, Dict, List, Optional, Tuple

import torch
import torch.distributed as torch_dist
from mmengine.dist import all_gather_object, get_rank
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from ...registry import register_hook

ACTIONS = ('raise', 'skip')


class _SkipStep(Exception):
    """Raised by the guarded ``parse_losses`` to leave ``train_step`` before the update."""

    def __init__(self, log_vars: Dict[str, Any]) -> None:
        super().__init__('non-finite loss: step skipped')
        self.log_vars = log_vars


def _nonfinite_terms(log_vars: Dict[str, Any]) -> Dict[str, float]:
    """Return ``{name: value}`` of the loss terms (keys containing 'loss') that are not finite.

    The total ``loss`` is named only when no single term explains it.
    """
    bad: Dict[str, float] = {}
    for name, value in log_vars.items():
        if 'loss' not in name:
            continue
        if isinstance(value, torch.Tensor):
            if value.numel() and not bool(torch.isfinite(value.detach()).all()):
                bad[name] = float(value.detach().float().flatten()[0]) if value.numel() == 1 \
                    else float('nan')
        elif isinstance(value, (int, float)) and not math.isfinite(value):
            bad[name] = float(value)
    if len(bad) > 1:
        bad.pop('loss', None)  # the total is non-finite because a term is: name the term
    return bad


def _any_process(flag: bool, device: torch.device) -> bool:
    """Return whether ``flag`` is True on any process (this one alone when not distributed)."""
    if not (torch_dist.is_available() and torch_dist.is_initialized()
            and torch_dist.get_world_size() > 1):
        return flag
    tensor = torch.tensor([1.0 if flag else 0.0], device=device)
    torch_dist.all_reduce(tensor, op=torch_dist.ReduceOp.MAX)
    return bool(tensor.item() > 0)


def _describe(per_rank: List[Dict[str, float]]) -> str:
    """``'loss_cls=nan'`` (one process) or ``'rank 1: loss_cls=nan'`` (several)."""
    parts = []
    for rank, terms in enumerate(per_rank):
        if not terms:
            continue
        text = ', '.join(f'{name}={value}' for name, value in terms.items())
        parts.append(text if len(per_rank) == 1 else f'rank {rank}: {text}')
    return '; '.join(parts)


@register_hook
class NonFiniteLossHook(Hook):
    """Check every loss term before the optimizer step; raise or skip when one is NaN/inf.

    Args:
        action: ``'raise'`` to stop training with ``FloatingPointError`` (nothing updated),
            or ``'skip'`` to drop that batch's update and continue.
        max_consecutive_skips: with ``action='skip'``, raise once this many iterations in a
            row had a non-finite loss (a diverged run should not spin forever).
    """

    priority = 'VERY_HIGH'

    def __init__(self, action: str = 'raise', max_consecutive_skips: int = 10) -> None:
        if action not in ACTIONS:
            raise ValueError(f'NonFiniteLossHook: action={action!r} is not supported; use '
                             f'one of {ACTIONS}')
        if not isinstance(max_consecutive_skips, int) or max_consecutive_skips < 1:
            raise ValueError(f'NonFiniteLossHook: max_consecutive_skips='
                             f'{max_consecutive_skips!r} must be a positive int')
        self.action = action
        self.max_consecutive_skips = max_consecutive_skips
        self.consecutive_skips = 0
        self.skipped_iters: List[int] = []
        self._restore: List[Tuple[Any, str, Optional[Callable]]] = []

    # ------------------------------------------------------------------ install / remove
    def before_train(self, runner) -> None:
        """Wrap the model's ``parse_losses`` (the check) and ``train_step`` (the skip)."""
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        self._patch(model, 'parse_losses', self._guard_parse_losses(runner, model.parse_losses))
        self._patch(runner.model, 'train_step', self._guard_train_step(runner.model.train_step))

    def after_train(self, runner) -> None:
        """Put the original methods back."""
        for obj, name, original in reversed(self._restore):
            if original is None:
                obj.__dict__.pop(name, None)
            else:
                setattr(obj, name, original)
        self._restore.clear()

    def _patch(self, obj: Any, name: str, wrapper: Callable) -> None:
        self._restore.append((obj, name, obj.__dict__.get(name)))
        setattr(obj, name, wrapper)

    # ------------------------------------------------------------------ the guard
    def _guard_parse_losses(self, runner, parse_losses: Callable) -> Callable:
        def guarded(losses: Dict[str, Any]):
            loss, log_vars = parse_losses(losses)
            bad = _nonfinite_terms(log_vars)
            device = loss.device if isinstance(loss, torch.Tensor) else torch.device('cpu')
            if not _any_process(bool(bad), device):
                self.consecutive_skips = 0
                return loss, log_vars
            self._on_nonfinite(runner, bad, log_vars)
            return loss, log_vars  # not reached: _on_nonfinite raises

        return guarded

    def _guard_train_step(self, train_step: Callable) -> Callable:
        def guarded(*args: Any, **kwargs: Any):
            try:
                return train_step(*args, **kwargs)
            except _SkipStep as skip:
                return skip.log_vars

        return guarded

    def _on_nonfinite(self, runner, bad: Dict[str, float], log_vars: Dict[str, Any]) -> None:
        """Raise ``FloatingPointError`` or ``_SkipStep``; every process decides alike."""
        if torch_dist.is_available() and torch_dist.is_initialized() \
                and torch_dist.get_world_size() > 1:
            per_rank = all_gather_object(bad)
        else:
            per_rank = [bad]
        where = f'training iteration {runner.iter + 1}'
        terms = _describe(per_rank)
        if self.action == 'skip':
            self.consecutive_skips += 1
            self.skipped_iters.append(runner.iter + 1)
            if self.consecutive_skips < self.max_consecutive_skips:
                runner.logger.warning(
                    f'Non-finite loss at {where} ({terms}): skipped this batch (no backward, '
                    f'no optimizer step). {self.consecutive_skips} in a row so far; training '
                    f'stops after {self.max_consecutive_skips}.')
                raise _SkipStep(log_vars)
            where = (f'{self.consecutive_skips} consecutive iterations up to {where}')
        last = runner.message_hub.get_info('last_ckpt') if get_rank() == 0 else None
        kept = (f' The last checkpoint, {last}, is intact; resume from it with --resume after '
                f'fixing the cause.' if last else '')
        raise FloatingPointError(
            f'Non-finite loss at {where}: {terms}. Training stopped before the optimizer '
            f'step, so the weights were not updated.{kept} Usual fixes: lower the learning '
            f'rate (optim_wrapper.optimizer.lr), clip gradients (optim_wrapper.clip_grad='
            f'dict(max_norm=1.0)), check the data of this batch, or skip such batches with '
            f"custom_hooks=[dict(type='NonFiniteLossHook', action='skip')].")
