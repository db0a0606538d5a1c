"""Parameters and FLOPs of a model, with weight sharing accounted for.

What ``tools/analysis/get_flops.py`` reports and the benchmarks build on. Sharing saves
parameters, not compute, so the two are counted differently:

* parameters count a shared tensor once: a tensor reached under several names, or two
  ``Parameter`` objects that alias one memory region, is one tensor (counting by identity,
  ``model.parameters()``, misses the second case; counting ``state_dict()`` entries the first);
* FLOPs count every use: a 2x ScaleNet runs every shared block twice, so its FLOPs are those of
  a plain ViT of the same depth. They come from mmengine's
  :class:`~mmengine.analysis.FlopAnalyzer` (fvcore's convention: one fused multiply-add is one
  FLOP), which traces the forward and so sees each call of a shared block, plus a handle for
  ``aten::scaled_dot_product_attention`` (mmengine has none, so attention matmuls would
  silently count as zero for ScaleNet, mmpretrain's and timm's ViTs alike).

:func:`per_call_flops` gives one figure per call of a shared block (per layer instance).
Models are counted as at inference: eval mode, no grad, one warm forward first so that merged
LoRA weights are cached and the one-off merge is not charged to the image.
"""
import warnings
from contextlib import contextmanager
from typing import (Any, Callable, Dict, Hashable, Iterator, List, Optional, Sequence, Tuple,
                    Type, Union)

import torch
import torch.nn as nn
from mmengine.analysis import ActivationAnalyzer, FlopAnalyzer
from mmengine.analysis.jit_handles import get_shape

Inputs = Union[torch.Tensor, Tuple[Any, ...]]


def tensor_key(tensor: torch.Tensor) -> Hashable:
    """A key equal for two tensors exactly when they are the same view of the same memory."""
    if tensor.device.type == 'meta':
        return ('meta', id(tensor))
    storage = tensor.untyped_storage()
    return (tensor.device.type, tensor.device.index, storage.data_ptr(), tensor.storage_offset(),
            tuple(tensor.shape), tuple(tensor.stride()), tensor.dtype)


def count_unique_parameters(model: nn.Module) -> Dict[str, int]:
    """Return ``total`` and ``trainable`` element counts with each shared tensor counted once.

    Every registered parameter is visited (``remove_duplicate=False``) and deduplicated by the
    memory it views, so a block registered under two parents and a ``Parameter`` built on
    another's ``.data`` are each counted once.
    """
    total = trainable = 0
    seen = set()
    for _, param in model.named_parameters(remove_duplicate=False):
        key = tensor_key(param)
        if key in seen:
            continue
        seen.add(key)
        total += param.numel()
        if param.requires_grad:
            trainable += param.numel()
    return dict(total=total, trainable=trainable)


def count_parameter_uses(model: nn.Module) -> int:
    """Return the element count with every *registration* counted (what naive counting gives)."""
    return sum(p.numel() for _, p in model.named_parameters(remove_duplicate=False))


def scalenet_parameter_split(backbone: nn.Module) -> Optional[Tuple[int, int, int]]:
    """``(shared, per_instance, other)`` element counts of a ScaleNet backbone, else None."""
    counter = getattr(backbone, 'count_parameters', None)
    if counter is None:
        return None
    counts = counter()
    return counts['shared'], counts['per_instance'], counts['other']


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
                   module_type: Optional[Union[Type[nn.Module],
                                               Tuple[Type[nn.Module], ...]]] = None,
                   label: Optional[Callable[[nn.Module, Tuple[Any, ...]], str]] = None
                   ) -> List[Tuple[str, int]]:
    """FLOPs of every call of every ``module_type`` module during ``model(*inputs)``, in order.

    Each recorded call (its first positional argument is the token tensor) is traced on its
    own, so a block shared by several instances gets one figure per use. ``label(module, args)``
    names a call (default: the module's name and its call count).

    Args:
        model: the model to run.
        inputs: its inputs.
        module_type: the class (or a tuple of classes) whose calls are counted (default:
            ScaleNet's ``SharedBlock``).
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
    """FLOPs of each layer instance of a ScaleNet backbone, in call order.

    ViT calls are named ``instances.{i}->layers.{j}``, Swin calls
    ``stages.{s}.instances.{i}->stages.{s}.blocks.{j}`` (the calls of ``SharedBlock`` and
    ``SharedSwinBlock``, the instance found among each call's arguments). ``inputs`` is the
    backbone's input (or a model that contains the backbone, with its input).
    """
    names = {id(module): name for name, module in backbone.named_modules()}
    from ..method.blocks import LayerInstance, SharedBlock
    from ..method.swin import SharedSwinBlock

    def label(module: nn.Module, args: Tuple[Any, ...]) -> str:
        instance = next((a for a in args if isinstance(a, LayerInstance)), None)
        inst = names.get(id(instance), '?') if instance is not None else '?'
        return f'{inst}->{names.get(id(module), "?")}'

    return per_call_flops(backbone, inputs, (SharedBlock, SharedSwinBlock), label)


def lora_merge_flops(model: nn.Module) -> int:
    """FLOPs of building every ``W + s * B @ A`` once (``d_out * r * d_in`` each).

    This is what folding the LoRA deltas costs per training step (once per step, whatever the
    batch), and what the eval cache saves at inference.
    """
    from ..method.adapters import LoRA
    return sum(m.out_features * m.rank * m.in_features for m in model.modules()
               if isinstance(m, LoRA))


class TensorForward(nn.Module):
    """The path of ``model`` that is counted, as a one-input module (what the tracer runs).

    As in mmpretrain's and mmdet's ``get_flops``: a model with ``extract_feat`` (an mmpretrain
    classifier: backbone and neck; an mmdet detector: backbone and neck, the heads depend on
    the data samples) is counted through it; anything else (a backbone) is called directly.

    Args:
        model: a backbone, an mmpretrain classifier or an mmdet detector.
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        self.kind = 'extract_feat' if hasattr(model, 'extract_feat') else 'call'

    def forward(self, x: torch.Tensor) -> Any:
        if self.kind == 'extract_feat':
            return self.model.extract_feat(x)
        return self.model(x)


def find_scalenet_backbone(model: nn.Module) -> Optional[nn.Module]:
    """The first submodule that is a ScaleNet backbone (a ``ScaleNetViT`` or ``ScaleNetSwin``).

    Matched by class: a Swin keeps its instances per stage (``stages.{s}.instances``), so an
    attribute test for ``instances`` would miss it.
    """
    # Imported when called, as the method classes below: counting plain models (timm's,
    # mmpretrain's) needs neither mmpretrain's backbones nor ours to be built.
    from ..models.backbones import ScaleNetSwin, ScaleNetViT
    for module in model.modules():
        if isinstance(module, (ScaleNetViT, ScaleNetSwin)):
            return module
    return None


def analyze(model: nn.Module, input_shape: Tuple[int, int, int] = (3, 224, 224),
            per_instance: bool = True, tables: bool = False) -> Dict[str, Any]:
    """Parameters, FLOPs and activations (batch of one ``input_shape`` image) of ``model``.

    Parameters are those of the whole model (head included, a shared tensor once); FLOPs and
    activations those of the :class:`TensorForward` path, every use of a shared block counted.

    Returns ``params``, ``params_trainable``, ``param_registrations``, ``flops``,
    ``flops_by_operator``, ``activations``, ``forward`` and ``input_shape``; for a model
    containing a ScaleNet backbone also ``params_split``, ``lora_merge_flops`` and
    (``per_instance``) ``flops_per_instance``; with ``tables`` also mmengine's per-module
    ``table`` and annotated ``arch`` strings (what mmpretrain's ``get_flops`` prints).
    """
    from mmengine.analysis.print_helper import complexity_stats_str, complexity_stats_table

    device = next((p.device for p in model.parameters()), torch.device('cpu'))
    image = torch.randn(1, *input_shape, device=device)
    wrapped = TensorForward(model)
    counts = count_unique_parameters(model)
    result: Dict[str, Any] = dict(
        params=counts['total'], params_trainable=counts['trainable'],
        param_registrations=count_parameter_uses(model), forward=wrapped.kind,
        input_shape=list(input_shape))
    with inference_mode(wrapped), warnings.catch_warnings():
        warnings.simplefilter('ignore')
        wrapped(image)  # fill eval caches (merged LoRA weights)
        flops = make_flop_analyzer(wrapped, (image, ))
        activations = ActivationAnalyzer(wrapped, (image, ))
        activations.unsupported_ops_warnings(False)
        activations.uncalled_modules_warnings(False)
        activations.tracer_warnings('none')
        result.update(flops=int(flops.total()), flops_by_operator=dict(flops.by_operator()),
                      activations=int(activations.total()))
        if tables:
            result['table'] = complexity_stats_table(flops=flops, activations=activations,
                                                     show_param_shapes=True)
            result['arch'] = complexity_stats_str(flops=flops, activations=activations)
    backbone = find_scalenet_backbone(model)
    if backbone is not None:
        shared, instance, other = scalenet_parameter_split(backbone)
        result['params_split'] = dict(shared=shared, per_instance=instance, other=other)
        result['lora_merge_flops'] = lora_merge_flops(backbone)
        if per_instance:
            # a bare backbone is traced as itself, so its calls are named ``instances.{i}``
            calls = scalenet_instance_flops(backbone if backbone is model else wrapped, image)
            result['flops_per_instance'] = [dict(call=c, flops=f) for c, f in calls]
    return result
