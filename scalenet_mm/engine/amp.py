"""``AutocastOptimWrapper``: bfloat16 mixed precision that also runs on CPU.

mmengine 0.10.7's ``AmpOptimWrapper`` asserts a CUDA/NPU/MLU/MUSA device and always keeps a
``GradScaler``. bfloat16 has float32's exponent range, so it needs no loss scaling, and
``torch.autocast('cpu', dtype=torch.bfloat16)`` runs on any CPU. This wrapper is mmengine's
plain ``OptimWrapper`` whose ``optim_context`` (the context the model's forward and loss run
in, see ``BaseModel.train_step``) is ``torch.autocast`` on the model's device type with
``dtype``. ``tools/train.py --amp-dtype bfloat16`` selects it on machines without a GPU
(:func:`scalenet_mm.runtime.options.enable_amp`); with a GPU mmengine's
``AmpOptimWrapper(dtype=...)`` is used. Registered under its own name in the
``OPTIM_WRAPPERS`` registries.
"""
from contextlib import contextmanager
from typing import Iterator, Union

import torch
import torch.nn as nn
from mmengine.optim import OptimWrapper

from ..registry import register_optim_wrapper

#: dtypes ``torch.autocast`` accepts on CPU.
CPU_AUTOCAST_DTYPES = ('bfloat16', 'float16')


@register_optim_wrapper
class AutocastOptimWrapper(OptimWrapper):
    """``OptimWrapper`` that runs forward and loss under ``torch.autocast`` (no loss scale).

    Args:
        dtype: autocast dtype, ``'bfloat16'`` (default) or ``'float16'`` (float16 without a
            loss scale can underflow gradients: use mmengine's ``AmpOptimWrapper`` for it).
        **kwargs: as for :class:`mmengine.optim.OptimWrapper`.
    """

    def __init__(self, dtype: Union[str, torch.dtype] = 'bfloat16', **kwargs) -> None:
        if isinstance(dtype, str):
            if dtype not in CPU_AUTOCAST_DTYPES:
                raise ValueError(f'AutocastOptimWrapper(dtype={dtype!r}): use one of '
                                 f'{CPU_AUTOCAST_DTYPES}')
            dtype = getattr(torch, dtype)
        super().__init__(**kwargs)
        self.cast_dtype = dtype

    @contextmanager
    def optim_context(self, model: nn.Module) -> Iterator[None]:
        """mmengine's context (gradient accumulation) plus autocast on the model's device."""
        param = next(model.parameters(), None)
        device_type = param.device.type if param is not None else 'cpu'
        with super().optim_context(model), torch.autocast(device_type=device_type,
                                                          dtype=self.cast_dtype):
            yield
