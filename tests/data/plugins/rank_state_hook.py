"""A test-only mmengine hook: every rank saves what it trained on and its final weights.

Used by the distributed-training tests (imported through ``custom_imports`` with
``tests/data/plugins`` on PYTHONPATH): comparing the files of all ranks shows whether the
ranks saw different data and still ended with identical parameters (gradients averaged).
"""
import os.path as osp
from typing import Any, Dict, List, Optional

import torch
import torch.distributed as dist
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.registry import HOOKS


@HOOKS.register_module()
class RankStateHook(Hook):
    """Write ``<work_dir>/rank<r>_state.pth`` after the run (on every rank): the rank, the
    images it trained on, and its parameters before and after training."""

    def __init__(self) -> None:
        self.seen: List[str] = []
        self.initial: Dict[str, torch.Tensor] = {}

    @staticmethod
    def _state(runner: Any) -> Dict[str, torch.Tensor]:
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        return {k: v.detach().clone() for k, v in model.state_dict().items()}

    def before_train(self, runner: Any) -> None:
        self.initial = self._state(runner)

    def before_train_iter(self, runner: Any, batch_idx: int, data_batch: Optional[dict] = None
                          ) -> None:
        for sample in data_batch['data_samples']:
            self.seen.append(osp.basename(osp.dirname(sample.img_path)) + '/'
                             + osp.basename(sample.img_path))

    def after_run(self, runner: Any) -> None:
        torch.save(
            dict(rank=runner.rank, world_size=runner.world_size,
                 backend=dist.get_backend() if dist.is_initialized() else None,
                 wrapper=type(runner.model).__name__, seen=self.seen,
                 initial_state_dict=self.initial, state_dict=self._state(runner)),
            osp.join(runner.work_dir, f'rank{runner.rank}_state.pth'))
