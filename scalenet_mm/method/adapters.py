"""Per-instance adjustment modules ("adapters") for shared ViT layers.

Every layer instance of a ScaleNet model owns a small set of adapters so that several
instances of one shared block can specialise. Two kinds are provided:

* :class:`LoRA` — a low-rank delta on one linear layer, ``y = W x + (alpha / r) B A x``
  with ``B`` zero-initialised (an instance computes exactly its source layer at init). It is
  mergeable into ``W`` and so costs nothing at inference once merged.
* :class:`Bottleneck` — a parallel bottleneck beside a sub-layer (AdaptFormer style),
  ``out = sublayer(x) + s * up(act(down(x)))`` with ``up`` zero-initialised. Not mergeable.

:class:`AdapterConfig` parses the user's ``adapter=dict(...)`` setting and validates it.
"""
import math
from dataclasses import dataclass, field
from typing import Any, Dict, Mapping, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

LORA_TARGETS = ('qkv', 'proj', 'fc1', 'fc2')
BOTTLENECK_POSITIONS = ('attn', 'ffn')
ADAPTER_TYPES = ('lora', 'bottleneck')
APPLY_TO = ('all', 'inserted')


class LoRA(nn.Module):
    """Low-rank delta ``(alpha / rank) * B @ A`` for one ``in_features -> out_features`` linear.

    ``A`` is Kaiming-uniform initialised and ``B`` is zero, so the delta starts at zero.

    Args:
        in_features: input width of the adapted linear layer.
        out_features: output width of the adapted linear layer.
        rank: the rank ``r`` of the delta (> 0).
        alpha: scaling numerator; the delta is multiplied by ``alpha / rank``.
        dropout: dropout on the adapter's input (training only). With dropout > 0 the delta
            cannot be folded into the weight during training, so the branch form is used.
    """

    def __init__(self, in_features: int, out_features: int, rank: int, alpha: float,
                 dropout: float = 0.0) -> None:
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        self.rank = rank
        self.scaling = alpha / rank
        self.lora_A = nn.Parameter(torch.empty(rank, in_features))
        self.lora_B = nn.Parameter(torch.zeros(out_features, rank))
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """A: Kaiming-uniform (as nn.Linear); B: zeros, so the delta starts at exactly zero."""
        nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))
        nn.init.zeros_(self.lora_B)

    @property
    def has_dropout(self) -> bool:
        """Whether input dropout is active (then the delta must run as a separate branch)."""
        return isinstance(self.dropout, nn.Dropout) and self.training

    def delta_weight(self) -> torch.Tensor:
        """Return ``scaling * B @ A`` (shape ``out_features x in_features``), differentiable."""
        return (self.lora_B * self.scaling) @ self.lora_A

    def merged_weight(self, weight: torch.Tensor) -> torch.Tensor:
        """Return ``weight + scaling * B @ A`` in ``weight``'s dtype, differentiable.

        One fused ``addmm`` (the add rides on the low-rank product's output) instead of
        building the delta and adding it: one full-size temporary and memory pass fewer per
        call, which is most of what folding costs in a training step on CPU. Autocast is off
        inside so the merge is done in the weight's precision; the consuming linear then casts
        it exactly as it would cast ``weight``. With ``B = 0`` the result equals ``weight``.
        """
        device_type = weight.device.type
        if torch.amp.is_autocast_available(device_type) and torch.is_autocast_enabled(device_type):
            with torch.autocast(device_type, enabled=False):
                return self.merged_weight(weight)
        return torch.addmm(weight, self.lora_B.to(weight.dtype), self.lora_A.to(weight.dtype),
                           alpha=self.scaling)

    def branch(self, x: torch.Tensor) -> torch.Tensor:
        """Return the delta's output ``scaling * B A dropout(x)`` as a separate low-rank branch."""
        return F.linear(F.linear(self.dropout(x), self.lora_A), self.lora_B) * self.scaling

    def extra_repr(self) -> str:
        return (f'in_features={self.in_features}, out_features={self.out_features}, '
                f'rank={self.rank}, scaling={self.scaling:g}')


class Bottleneck(nn.Module):
    """Parallel bottleneck adapter: ``scale * up(act(down(x)))`` with ``up`` zero-initialised.

    Args:
        dims: the token width it reads and writes.
        width: the bottleneck width.
        scale: multiplier of the adapter's output.
    """

    def __init__(self, dims: int, width: int, scale: float = 1.0) -> None:
        super().__init__()
        self.scale = scale
        self.down = nn.Linear(dims, width)
        self.act = nn.GELU()
        self.up = nn.Linear(width, dims)
        nn.init.kaiming_uniform_(self.down.weight, a=math.sqrt(5))
        nn.init.zeros_(self.down.bias)
        nn.init.zeros_(self.up.weight)
        nn.init.zeros_(self.up.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.up(self.act(self.down(x))) * self.scale


@dataclass
class AdapterConfig:
    """A validated adapter setting (what ``adapter=dict(...)`` in a config means).

    Attributes:
        type: ``'lora'`` or ``'bottleneck'``.
        targets: LoRA only: which linears of a block get a delta (subset of qkv/proj/fc1/fc2).
        rank: LoRA rank.
        alpha: LoRA scaling numerator (``None`` means ``alpha = rank``, i.e. scaling 1).
        dropout: LoRA input dropout.
        positions: bottleneck only: beside which sub-layers (subset of attn/ffn).
        width: bottleneck width.
        scale: bottleneck output scale.
        apply_to: ``'all'`` instances (default, the paper's count) or only ``'inserted'`` ones.
    """
    type: str = 'lora'
    targets: Tuple[str, ...] = LORA_TARGETS
    rank: int = 10
    alpha: Optional[float] = None
    dropout: float = 0.0
    positions: Tuple[str, ...] = BOTTLENECK_POSITIONS
    width: int = 16
    scale: float = 1.0
    apply_to: str = 'all'
    _extra: Dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_spec(cls, spec: Optional[Mapping[str, Any]]) -> Optional['AdapterConfig']:
        """Parse ``None`` / a dict into an AdapterConfig; raise ValueError naming a bad field."""
        if spec is None:
            return None
        if isinstance(spec, str):
            spec = dict(type=spec)
        if not isinstance(spec, Mapping):
            raise TypeError(f'adapter must be None or a dict such as dict(type="lora", rank=10), '
                            f'got {spec!r}')
        spec = dict(spec)
        known = {'type', 'targets', 'rank', 'alpha', 'dropout', 'positions', 'width', 'scale',
                 'apply_to'}
        unknown = sorted(set(spec) - known)
        if unknown:
            raise ValueError(f'adapter has unknown keys {unknown}; allowed keys: {sorted(known)}')
        cfg = cls(**spec)
        cfg.validate()
        return cfg

    def validate(self) -> None:
        """Raise ValueError naming the field, its value and what is allowed."""
        if self.type not in ADAPTER_TYPES:
            raise ValueError(f'adapter type={self.type!r} is unknown; allowed: {ADAPTER_TYPES} '
                             f'(or adapter=None for plain weight sharing)')
        if self.apply_to not in APPLY_TO:
            raise ValueError(f'adapter apply_to={self.apply_to!r} is unknown; allowed: {APPLY_TO}')
        if self.type == 'lora':
            self.targets = _as_tuple(self.targets, 'targets')
            bad = [t for t in self.targets if t not in LORA_TARGETS]
            if bad or not self.targets:
                raise ValueError(f'adapter targets={list(self.targets)} is invalid; LoRA targets '
                                 f'must be a non-empty subset of {LORA_TARGETS}')
            if isinstance(self.rank, bool) or not isinstance(self.rank, int) or self.rank <= 0:
                raise ValueError(f'adapter rank={self.rank!r} is invalid; the LoRA rank must be a '
                                 f'positive integer (e.g. 10)')
            if self.alpha is not None and not self.alpha > 0:
                raise ValueError(f'adapter alpha={self.alpha!r} is invalid; it must be > 0 or None '
                                 f'(None means alpha = rank)')
            if not 0.0 <= self.dropout < 1.0:
                raise ValueError(f'adapter dropout={self.dropout!r} must be in [0, 1)')
        else:
            self.positions = _as_tuple(self.positions, 'positions')
            bad = [p for p in self.positions if p not in BOTTLENECK_POSITIONS]
            if bad or not self.positions:
                raise ValueError(f'adapter positions={list(self.positions)} is invalid; bottleneck '
                                 f'positions must be a non-empty subset of {BOTTLENECK_POSITIONS}')
            if isinstance(self.width, bool) or not isinstance(self.width, int) or self.width <= 0:
                raise ValueError(f'adapter width={self.width!r} is invalid; the bottleneck width '
                                 f'must be a positive integer (e.g. 16)')

    @property
    def lora_alpha(self) -> float:
        """The effective LoRA alpha (``rank`` when not set)."""
        return float(self.rank if self.alpha is None else self.alpha)

    @property
    def mergeable(self) -> bool:
        """Whether the adapter can be folded into the shared weights (LoRA yes, bottleneck no)."""
        return self.type == 'lora'


def _as_tuple(value: Any, name: str) -> Tuple[str, ...]:
    if isinstance(value, str):
        return (value, )
    if not isinstance(value, Sequence):
        raise ValueError(f'adapter {name}={value!r} must be a list of names')
    return tuple(value)
