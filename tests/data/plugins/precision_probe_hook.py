"""A test-only hook: record which optimizer wrapper trained, in which dtype the head's Linear
layer computed during training steps, and whether the train step was ``torch.compile``d.

Imported through ``custom_imports`` with ``tests/data/plugins`` on PYTHONPATH; writes
``<work_dir>/precision_probe.json`` after the run.
"""
import json
import os.path as osp
from typing import Any, List

import torch.nn as nn
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.registry import HOOKS


@HOOKS.register_module()
class PrecisionProbeHook(Hook):
    """Record the optimizer wrapper, the forward dtype and the compile state (see module)."""

    def __init__(self) -> None:
        self.dtypes: List[str] = []
        self.handle: Any = None

    def before_train(self, runner: Any) -> None:
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        # the head's classifier (the backbone's shared layers may be applied functionally)
        linear = [m for m in model.modules() if isinstance(m, nn.Linear)][-1]

        def record(module: nn.Module, args: Any, output: Any) -> None:
            if module.training:
                self.dtypes.append(str(output.dtype))

        self.handle = linear.register_forward_hook(record)

    def after_train(self, runner: Any) -> None:
        self.handle.remove()
        wrapper = runner.optim_wrapper
        step = runner.model.train_step
        result = dict(
            wrapper=type(wrapper).__name__,
            cast_dtype=str(getattr(wrapper, 'cast_dtype', None)),
            has_loss_scaler=hasattr(wrapper, 'loss_scaler'),
            linear_dtypes=sorted(set(self.dtypes)),
            compiled=hasattr(step, '_torchdynamo_orig_callable')
            or 'compile' in type(step).__name__.lower() or hasattr(step, 'dynamo_ctx'),
            iters=runner.iter)
        with open(osp.join(runner.work_dir, 'precision_probe.json'), 'w') as f:
            json.dump(result, f)
