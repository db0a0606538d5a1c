"""FLOPs per image, with every use of a shared block counted.

Sharing saves parameters, not compute: a 2x ScaleNet runs every shared block twice, so its
FLOPs are those of a plain ViT of the same depth. The counts here come from mmengine's
:class:`~mmengine.analysis.FlopAnalyzer` (fvcore's convention: one fused multiply-add is one
FLOP), which traces the forward and so counts each call of a shared block. Two additions:

* a handle for ``aten::scaled_dot_product_attention`` (mmengine has none, so attention
  matmuls would silently count as zero for every model that uses it, ScaleNet, mmpretrain and
  timm alike);
* :func:`per_call_flops`, the FLOPs of each call of a shared block (one figure per layer
  instance), traced call by call with the arguments the full forward passed.

Models are counted as at inference: eval mode, no grad, one warm forward first so that merged
LoRA weights are cached and the one-off merge is not charged to the image.
"""
import warnings
from contextlib import contextmanager
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple, Type, Union

import torch
import torch.nn as nn
from mmengine.analysis import FlopAnalyzer
from mmengine.analysis.jit_handles import get_shape

Inputs = Union[torch.Tensor, Tuple[Any, ...]]


def sdpa_flop_jit(inputs: List[Any], outputs: List[Any]) -> int:
    """FLOPs of ``scaled_dot_product_attention``: ``q @ k^T`` plus ``attn @ v`` (as two matmuls).

    Shapes ``q (..., N, d)``, ``k (..., S, d)``, ``v (..., S, dv)`` give
    ``prod(...) * N * S * (d + dv)``; softmax and scaling are not counted (as for matmul).
    """
    q, k, v = (get_shape(value) for value in inputs[:3])
    batch = 1
    for size in q[:-2]:
        batch *= size
    return batch * q[-2] * k[-2] * (q[-1] + v[-1])


def make_flop_analyzer(model: nn.Module, inputs: Inputs) -> FlopAnalyzer:
    """A quiet FlopAnalyzer that also counts ``scaled_dot_product_attention``."""
    analyzer = FlopAnalyzer(model, inputs if isinstance(inputs, tuple) else (inputs, ))
    analyzer.set_op_handle('aten::scaled_dot_product_attention', sdpa_flop_jit)
    analyzer.unsupported_ops_warnings(False)
    analyzer.uncalled_modules_warnings(False)
    analyzer.tracer_warnings('none')
    return analyzer


@contextmanager
def inference_mode(model: nn.Module) -> Iterator[None]:
    """Eval mode and no grad for the duration, restoring every submodule's training flag."""
    flags = [(module, module.training) for module in model.modules()]
    model.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        for module, flag in flags:
            module.training = flag


def _as_tuple(inputs: Inputs) -> Tuple[Any, ...]:
    return inputs if isinstance(inputs, tuple) else (inputs, )


def count_flops(model: nn.Module, inputs: Inputs) -> Dict[str, Any]:
    """Count the inference FLOPs of ``model(*inputs)``.

    Returns ``total`` (all images of the batch), ``by_operator`` and ``by_module`` (a shared
    module's figure sums all its calls) and ``unsupported`` (ops given zero, e.g. ``add``).
    """
    with inference_mode(model), warnings.catch_warnings():
        warnings.simplefilter('ignore')
        model(*_as_tuple(inputs))  # fill eval caches (merged LoRA weights)
        analyzer = make_flop_analyzer(model, _as_tuple(inputs))
        return dict(total=int(analyzer.total()), by_operator=dict(analyzer.by_operator()),
                    by_module=dict(analyzer.by_module()),
                    unsupported=dict(analyzer.unsupported_ops()))


class _BoundCall(nn.Module):
    """``module(x, *args, **kwargs)`` as a one-input module, for tracing one recorded call."""

    def __init__(self, module: nn.Module, args: Sequence[Any], kwargs: Dict[str, Any]) -> None:
        super().__init__()
        self.module = module
        self.args = tuple(args)
        self.kwargs = dict(kwargs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.module(x, *self.args, **self.kwargs)


def per_call_flops(model: nn.Module, inputs: Inputs,
                   module_type: Optional[Type[nn.Module]] = None,
                   label: Optional[Callable[[nn.Module, Tuple[Any, ...]], str]] = None
                   ) -> List[Tuple[str, int]]:
    """FLOPs of every call of every ``module_type`` module during ``model(*inputs)``, in order.

    Each recorded call (its first positional argument is the token tensor) is traced on its
    own, so a block shared by several instances gets one figure per use. ``label(module, args)``
    names a call (default: the module's name and its call count).

    Args:
        model: the model to run.
        inputs: its inputs.
        module_type: the class whose calls are counted (default: ScaleNet's ``SharedBlock``).
        label: how to name a call.
    """
    if module_type is None:
        from ..method.blocks import SharedBlock
        module_type = SharedBlock
    names = {id(module): name for name, module in model.named_modules()}
    calls: List[Tuple[nn.Module, Tuple[Any, ...], Dict[str, Any]]] = []

    def record(module: nn.Module, args: Tuple[Any, ...], kwargs: Dict[str, Any]) -> None:
        calls.append((module, args, kwargs))

    handles = [module.register_forward_pre_hook(record, with_kwargs=True)
               for module in model.modules() if isinstance(module, module_type)]
    results: List[Tuple[str, int]] = []
    uses: Dict[int, int] = {}
    # One inference context for recording and tracing: leaving and re-entering eval mode
    # would drop the merged-weight caches the recorded calls rely on.
    with inference_mode(model), warnings.catch_warnings():
        warnings.simplefilter('ignore')
        try:
            model(*_as_tuple(inputs))
        finally:
            for handle in handles:
                handle.remove()
        for module, args, kwargs in calls:
            uses[id(module)] = uses.get(id(module), 0) + 1
            if label is not None:
                name = label(module, args)
            else:
                name = f'{names.get(id(module), type(module).__name__)}#{uses[id(module)]}'
            analyzer = make_flop_analyzer(_BoundCall(module, args[1:], kwargs), (args[0], ))
            results.append((name, int(analyzer.total())))
    return results


def scalenet_instance_flops(backbone: nn.Module, inputs: Inputs) -> List[Tuple[str, int]]:
    """FLOPs of each layer instance of a ScaleNet backbone (``instances.{i}->layers.{j}``).

    ``inputs`` is the backbone's input (or a model that contains the backbone, with its input).
    """
    names = {id(module): name for name, module in backbone.named_modules()}
    from ..method.blocks import LayerInstance, SharedBlock

    def label(module: nn.Module, args: Tuple[Any, ...]) -> str:
        instance = next((a for a in args if isinstance(a, LayerInstance)), None)
        inst = names.get(id(instance), '?') if instance is not None else '?'
        return f'{inst}->{names.get(id(module), "?")}'

    return per_call_flops(backbone, inputs, SharedBlock, label)


def lora_merge_flops(model: nn.Module) -> int:
    """FLOPs of building every ``W + s * B @ A`` once (``d_out * r * d_in`` each).

    This is what folding the LoRA deltas costs per training step (once per step, whatever the
    batch), and what the eval cache saves at inference.
    """
    from ..method.adapters import LoRA
    return sum(m.out_features * m.rank * m.in_features for m in model.modules()
               if isinstance(m, LoRA))
