"""ScaleNetViT compiled with inductor (torch.compile's default backend) in training mode, on CPU.

``torch.compile(model, fullgraph=True)`` turns any graph break into an error, so every
compiled training step here (forward, a loss, backward through AOTAutograd) proves that the
backbone traces into one graph: with the LoRA delta folded into the weight and as a low-rank
branch, with window and global attention and decomposed relative positions (the detection
layout), with non-reentrant activation checkpointing, and with stochastic depth. Each
compiled step is compared with an eager step of a deep copy with the same weights:

* fp32: the output and every parameter gradient equal eager's to rtol 1e-4 / atol 1e-5, and
  the gradient of the shared block (run by both instances) is the sum over both uses;
* bf16 autocast: output and gradients agree with eager bf16 within :data:`BF16_OUT_TOL` /
  :data:`BF16_GRAD_TOL` of their scale, the compiled graph's linears really produced bf16,
  and the tolerances are tight enough that dropping any one LoRA delta exceeds them.

Not repeated here: ``tests/models/test_scalenet_vit.py`` (dynamo explain, eager backend,
forward only) and ``tests/runtime/test_train_options.py`` (``tools/train.py --compile``).
"""
import copy
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Tuple

import pytest
import torch
import torch.nn as nn

import scalenet_mm  # noqa: F401  (registers the modules)
from scalenet_mm.method import blocks
from scalenet_mm.method.adapters import LoRA
from scalenet_mm.models import ScaleNetViT

#: One pretrained layer (embed 32, 2 heads, MLP 64) run as 2 instances: the cyclic 2x map
#: [0, 0], so both instances share every tensor of ``layers.0``.
ARCH = dict(embed_dims=32, num_layers=1, num_heads=2, feedforward_channels=64)
TARGETS = ('qkv', 'proj', 'fc1', 'fc2')
LORA = dict(type='lora', rank=4, targets=TARGETS)
#: bf16 agreement of compiled and eager, by :func:`bf16_error` (max error over max magnitude).
#: Eager bf16 itself is 0.6e-3 to 3.5e-3 (output) and up to 1.4e-2 (worst gradient) from fp32
#: in these cases; a compiled graph that keeps fused intermediates in fp32 may sit anywhere
#: between the two, so the tolerances are about three times that rounding error.
BF16_OUT_TOL = 1e-2
BF16_GRAD_TOL = 5e-2

Grads = Dict[str, torch.Tensor]


@dataclass(frozen=True)
class Case:
    """A backbone configuration and the input it is trained on."""
    kwargs: Dict[str, Any]
    batch: int
    side: int
    #: target -> the form ``adapted_linear`` runs its LoRA delta in, ``'fold'`` (one matmul
    #: with ``W + s * B @ A``) or ``'branch'`` (a separate low-rank branch), in both instances
    lora_paths: Dict[str, str]


CASES: Dict[str, Case] = {
    # 1 image x (16 patches + cls) = 17 tokens: per linear, the delta is folded into the
    # weight where tokens * (d_in + d_out) >= d_in * d_out, else run as a low-rank branch:
    # proj folds (17 * 64 >= 32 * 32); qkv (17 * 128 < 32 * 96) and fc1 / fc2
    # (17 * 96 < 32 * 64) take the branch, so one graph holds both forms
    'lora': Case(dict(img_size=32, patch_size=8, out_type='cls_token'), 1, 32,
                 dict(qkv='branch', proj='fold', fc1='branch', fc2='branch')),
    # the detection layout: featmap, no cls token, a 6 x 6 grid in 4 x 4 windows (padded) in
    # instance 0, global attention in instance 1, relative positions in both; 2 x 64 window
    # tokens and 2 x 36 global ones: every delta folds
    'window_rel_pos': Case(dict(img_size=48, patch_size=8, with_cls_token=False,
                                out_type='featmap', final_norm=False, window_size=4,
                                global_attn_indexes=(1, ), use_rel_pos=True), 2, 48,
                           dict.fromkeys(TARGETS, 'fold')),
    # non-reentrant activation checkpointing of every instance; 2 x 17 tokens: all fold
    'with_cp': Case(dict(img_size=32, patch_size=8, out_type='avg_featmap', with_cp=True), 2, 32,
                    dict.fromkeys(TARGETS, 'fold')),
}


def build(case: Case, **overrides: Any) -> ScaleNetViT:
    """The case's 2x backbone in training mode, every parameter random and non-zero (LoRA B
    and the relative-position tables too, so adapters and positions change the result)."""
    torch.manual_seed(0)
    kwargs = dict(arch=ARCH, depth=2.0, layer_map='cyclic', adapter=LORA, **case.kwargs)
    kwargs.update(overrides)
    model = ScaleNetViT(**kwargs)
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for param in model.parameters():
            param.copy_(torch.randn(param.shape, generator=gen) * 0.2)
    return model.train()


def images(case: Case) -> torch.Tensor:
    return torch.randn(case.batch, 3, case.side, case.side,
                       generator=torch.Generator().manual_seed(2))


def train_step(model: nn.Module, forward: Callable[[torch.Tensor], Tuple[torch.Tensor, ...]],
               x: torch.Tensor, bf16: bool) -> Tuple[torch.Tensor, Grads]:
    """Forward (under CPU bf16 autocast if asked), the loss ``sum(out * fixed random)``,
    backward; returns the detached output and every parameter's gradient."""
    model.zero_grad(set_to_none=True)
    autocast = torch.autocast('cpu', dtype=torch.bfloat16) if bf16 else nullcontext()
    with autocast:
        out = forward(x)[0]
    weights = torch.randn(out.shape, generator=torch.Generator().manual_seed(3))
    (out.float() * weights).sum().backward()
    grads = {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}
    return out.detach(), grads


def bf16_error(actual: torch.Tensor, expected: torch.Tensor) -> float:
    """max |actual - expected| relative to max |expected| (compared with the bf16 tolerances)."""
    expected = expected.float()
    scale = expected.abs().max().clamp_min(1e-12)
    return float((actual.float() - expected).abs().max() / scale)


def record_linear_dtypes(patch: pytest.MonkeyPatch) -> List[torch.dtype]:
    """Wrap ``adapted_linear`` (every linear of a shared block) to record its output dtype.

    Traced by dynamo, the list append is a side effect replayed by the compiled code, and the
    dtype is the one the traced graph computes. (Not usable under activation checkpointing:
    dynamo refuses side effects inside the checkpointed region.)"""
    seen: List[torch.dtype] = []
    real = blocks.adapted_linear

    def recording(x: torch.Tensor, linear: nn.Linear, instance: blocks.LayerInstance,
                  target: str) -> torch.Tensor:
        out = real(x, linear, instance, target)
        seen.append(out.dtype)
        return out

    patch.setattr(blocks, 'adapted_linear', recording)
    return seen


def observed_lora_paths(model: ScaleNetViT, x: torch.Tensor) -> Dict[str, List[str]]:
    """Which form each LoRA delta ran in during one eager training forward, per target."""
    names = {id(lora): target for inst in model.instances for target, lora in inst.lora.items()}
    paths: Dict[str, List[str]] = {target: [] for target in TARGETS}
    fold, branch = LoRA.merged_weight, LoRA.branch

    def counting_fold(self: LoRA, weight: torch.Tensor) -> torch.Tensor:
        paths[names[id(self)]].append('fold')
        return fold(self, weight)

    def counting_branch(self: LoRA, inputs: torch.Tensor) -> torch.Tensor:
        paths[names[id(self)]].append('branch')
        return branch(self, inputs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(LoRA, 'merged_weight', counting_fold)
        patch.setattr(LoRA, 'branch', counting_branch)
        model(x)
    return paths


def unrolled_shared_grads(case: Case, model: ScaleNetViT, x: torch.Tensor) -> Grads:
    """Eager gradients of ``model``'s shared ``layers.0`` as the sum over its two uses: an
    unshared twin whose ``layers.0`` and ``layers.1`` are both copies of it (instance i runs
    layer i) is trained on the same step, and its two layers' gradients are added."""
    twin = build(case, arch=dict(ARCH, num_layers=2), depth=2)
    state = model.state_dict()
    state.update({k.replace('layers.0.', 'layers.1.', 1): v for k, v in state.items()
                  if k.startswith('layers.0.')})
    twin.load_state_dict(state, strict=True)
    assert [inst.source for inst in twin.instances] == [0, 1]
    _, grads = train_step(twin, twin, x, bf16=False)
    return {name: grads[name] + grads[name.replace('layers.0.', 'layers.1.', 1)]
            for name in grads if name.startswith('layers.0.')}


@pytest.fixture(autouse=True)
def fresh_dynamo() -> None:
    """Each test compiles from scratch (no graphs or guards left from another case)."""
    torch._dynamo.reset()


@pytest.mark.parametrize('name', ['lora', 'window_rel_pos'])
def test_cases_take_the_lora_paths_they_state_in_eager_and_in_the_graph(name: str) -> None:
    """The cases exercise the forms of the LoRA delta they state (the ``lora`` case both
    forms in one model): observed per target in an eager training forward, and the dynamo
    graph (the one inductor compiles) holds one ``addmm`` per folded delta. One graph, no
    break (counted by explain)."""
    case = CASES[name]
    model, x = build(case), images(case)
    assert list(model.layer_map) == [0, 0]
    paths = observed_lora_paths(model, x)
    assert paths == {target: [path] * 2 for target, path in case.lora_paths.items()}
    explanation = torch._dynamo.explain(model)(x)
    assert explanation.graph_break_count == 0, explanation.break_reasons
    assert explanation.graph_count == 1
    addmms = sum(node.target is torch.addmm for graph in explanation.graphs
                 for node in graph.graph.nodes)
    assert addmms == 2 * list(case.lora_paths.values()).count('fold')


def compiled_twin(model: ScaleNetViT) -> Tuple[ScaleNetViT, Callable[[torch.Tensor], Any]]:
    """A deep copy of ``model`` (same weights) and its ``torch.compile`` with inductor (the
    default backend) and ``fullgraph=True``: a graph break raises instead of splitting."""
    twin = copy.deepcopy(model)
    return twin, torch.compile(twin, fullgraph=True)


def bf16_mismatch(out: torch.Tensor, grads: Grads, ref_out: torch.Tensor,
                  ref_grads: Grads) -> Tuple[float, float, str]:
    """(output error, worst gradient error, that gradient's name) by :func:`bf16_error`."""
    assert grads.keys() == ref_grads.keys()
    worst = max(ref_grads, key=lambda key: bf16_error(grads[key], ref_grads[key]))
    return bf16_error(out, ref_out), bf16_error(grads[worst], ref_grads[worst]), worst


@pytest.mark.parametrize('name', list(CASES))
def test_compiled_fp32_training_step_has_one_graph_and_equals_eager(name: str) -> None:
    """fp32 training step compiled with inductor, ``fullgraph=True`` (no graph break, forward
    or backward), against eager on a deep copy with the same weights: the output and every
    parameter gradient agree to rtol 1e-4 / atol 1e-5, and the shared block's gradient is
    the sum over both its uses (equal to an unshared twin's two layers' gradients added)."""
    case = CASES[name]
    model, x = build(case), images(case)
    twin, compiled = compiled_twin(model)
    out_c, grads_c = train_step(twin, compiled, x, bf16=False)
    out_e, grads_e = train_step(model, model, x, bf16=False)
    torch.testing.assert_close(out_c, out_e, rtol=1e-4, atol=1e-5, msg='fp32 output')
    assert grads_e.keys() == grads_c.keys() == dict(model.named_parameters()).keys()
    for key, grad in grads_e.items():
        torch.testing.assert_close(grads_c[key], grad, rtol=1e-4, atol=1e-5,
                                   msg=lambda m, key=key: f'fp32 grad of {key}: {m}')
    shared = unrolled_shared_grads(case, model, x)
    assert len(shared) == len(list(model.layers.parameters()))
    for key, grad in shared.items():
        torch.testing.assert_close(grads_c[key], grad, rtol=1e-4, atol=1e-5,
                                   msg=lambda m, key=key: f'shared {key} != sum of uses: {m}')


@pytest.mark.parametrize('name', list(CASES))
def test_compiled_bf16_training_step_has_one_graph_and_equals_eager_bf16(
        name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same step under CPU bf16 autocast, compiled (inductor, ``fullgraph=True``) and
    eager: output within BF16_OUT_TOL and every gradient within BF16_GRAD_TOL of eager bf16.
    The graph really computed in bf16: its block linears produced bf16 (recorded while
    tracing; not possible inside the checkpointed region of ``with_cp``) and its output is a
    bf16-sized step away from the fp32 result (fp32 compiled and eager agree to ~1e-7)."""
    case = CASES[name]
    model, x = build(case), images(case)
    out_fp32, _ = train_step(model, model, x, bf16=False)
    dtypes = None if case.kwargs.get('with_cp') else record_linear_dtypes(monkeypatch)
    twin, compiled = compiled_twin(model)
    out_c, grads_c = train_step(twin, compiled, x, bf16=True)
    if dtypes is not None:
        assert dtypes and set(dtypes) == {torch.bfloat16}, dtypes
    assert bf16_error(out_c, out_fp32) > 1e-4, 'the compiled step did not compute in bf16'
    out_e, grads_e = train_step(model, model, x, bf16=True)
    assert grads_c.keys() == dict(model.named_parameters()).keys()
    out_err, grad_err, worst = bf16_mismatch(out_c, grads_c, out_e, grads_e)
    assert out_err <= BF16_OUT_TOL, f'bf16 output differs from eager by {out_err:.3g}'
    assert grad_err <= BF16_GRAD_TOL, f'bf16 grad of {worst} differs by {grad_err:.3g}'


def test_bf16_tolerances_pass_rounding_and_fail_a_missing_lora_delta() -> None:
    """The bf16 tolerances are loose enough for bf16 rounding (eager bf16 against eager fp32
    is within them) and tight enough for a real bug: removing any one LoRA delta (B = 0, each
    of the 2 instances x 4 targets in turn) moves the output or the other parameters'
    gradients by at least twice their tolerance (measured: output >= 1.8x, gradients >= 3.9x).
    Eager only (what the compiled step is compared with)."""
    case = CASES['lora']
    model, x = build(case), images(case)
    out, grads = train_step(model, model, x, bf16=True)
    out_fp32, grads_fp32 = train_step(model, model, x, bf16=False)
    out_err, grad_err, worst = bf16_mismatch(out, grads, out_fp32, grads_fp32)
    assert out_err <= BF16_OUT_TOL and grad_err <= BF16_GRAD_TOL, (out_err, grad_err, worst)
    for index in range(len(model.instances)):
        for target in TARGETS:
            broken = copy.deepcopy(model)
            with torch.no_grad():
                broken.instances[index].lora[target].lora_B.zero_()
            out_broken, grads_broken = train_step(broken, broken, x, bf16=True)
            # the removed adapter's own gradients (A's is then zero) would make this trivial
            others = [key for key in grads
                      if not key.startswith(f'instances.{index}.lora.{target}.')]
            out_err, grad_err, worst = bf16_mismatch(
                out_broken, {key: grads_broken[key] for key in others},
                out, {key: grads[key] for key in others})
            assert max(out_err / BF16_OUT_TOL, grad_err / BF16_GRAD_TOL) >= 2, (
                f'without instance {index} {target} delta: output {out_err:.3g}, '
                f'grad of {worst} {grad_err:.3g}')


def test_stochastic_depth_compiles_without_graph_break() -> None:
    """drop_path > 0 in training: the compiled step (fullgraph, inductor) runs forward and
    backward and every parameter gets a finite gradient. Random masks differ between eager
    and inductor, so no numeric comparison."""
    model = build(CASES['lora'], drop_path_rate=0.5)
    assert model.instances[1].drop_path_rate == 0.5
    x = torch.randn(4, 3, 32, 32, generator=torch.Generator().manual_seed(2))
    out, grads = train_step(model, torch.compile(model, fullgraph=True), x, bf16=False)
    assert out.shape == (4, 32) and torch.isfinite(out).all()
    assert grads.keys() == dict(model.named_parameters()).keys()
    assert all(torch.isfinite(g).all() for g in grads.values())
