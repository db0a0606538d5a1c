"""Per-arm summaries of the experiment's runs (statistics over seeds) and paired per-seed
differences: what the report, the claims and the regime checks are computed from."""
import math
import statistics
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, List, Optional, Tuple

from .experiment import ARMS, Arm, Settings, arm_epochs, arm_layers


def mean_std(values: Iterable[float]) -> Tuple[float, float]:
    """Mean and sample standard deviation (0 for a single value)."""
    values = list(values)
    if not values:
        return math.nan, math.nan
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


@dataclass
class ArmSummary:
    """An arm's results over its finished seeds."""
    arm: Arm
    epochs: int
    layers: Tuple[int, int] = (0, 0)  # (layers run, layers stored)
    seeds: List[int] = field(default_factory=list)
    top1: List[float] = field(default_factory=list)
    train_top1: List[float] = field(default_factory=list)
    wall_s: List[float] = field(default_factory=list)
    cpu_s: List[float] = field(default_factory=list)
    curves: List[List[Tuple[int, float]]] = field(default_factory=list)
    params: Optional[int] = None
    failed: List[str] = field(default_factory=list)

    @property
    def top1_mean_std(self) -> Tuple[float, float]:
        return mean_std(self.top1)

    @property
    def train_top1_mean_std(self) -> Tuple[float, float]:
        return mean_std(self.train_top1)

    @property
    def wall_mean(self) -> float:
        return mean_std(self.wall_s)[0]

    @property
    def cpu_mean(self) -> float:
        return mean_std(self.cpu_s)[0]

    def mean_curve(self) -> List[Tuple[int, float, float]]:
        """``[(epoch, mean, std), ...]`` over the seeds that logged that epoch."""
        by_epoch: Dict[int, List[float]] = {}
        for curve in self.curves:
            for epoch, value in curve:
                by_epoch.setdefault(int(epoch), []).append(float(value))
        return [(epoch, *mean_std(values)) for epoch, values in sorted(by_epoch.items())]


def summarise(results: Dict[str, Dict[str, Any]], settings: Settings,
              arms: Iterable[Arm] = ARMS) -> Dict[str, ArmSummary]:
    """Group run results by arm (only arms that have runs), seeds in order."""
    summaries: Dict[str, ArmSummary] = {}
    present = {result['arm'] for result in results.values()}
    for arm in arms:
        if arm.name in present:
            summaries[arm.name] = ArmSummary(arm, arm_epochs(arm, settings),
                                             arm_layers(arm, settings))
    for result in sorted(results.values(), key=lambda r: (r['arm'], r['seed'])):
        summary = summaries.get(result['arm'])
        if summary is None:
            continue
        if result.get('status') != 'ok':
            summary.failed.append(f'seed {result["seed"]}: {result.get("error", "failed")}')
            continue
        summary.seeds.append(int(result['seed']))
        summary.top1.append(float(result['final_top1']))
        if result.get('train_top1') is not None:
            summary.train_top1.append(float(result['train_top1']))
        summary.wall_s.append(float(result['wall_s']))
        summary.cpu_s.append(float(result.get('cpu_s', math.nan)))
        summary.curves.append([(int(e), float(a)) for e, a in result['curve']])
        if result.get('params'):
            summary.params = int(result['params']['total'])
    return summaries


def paired_difference(summaries: Dict[str, ArmSummary], better: str,
                      worse: str) -> Optional[List[float]]:
    """Per-seed ``top1(better) - top1(worse)`` over the seeds both arms finished."""
    if better not in summaries or worse not in summaries:
        return None
    a = dict(zip(summaries[better].seeds, summaries[better].top1))
    b = dict(zip(summaries[worse].seeds, summaries[worse].top1))
    common = sorted(set(a) & set(b))
    return [a[s] - b[s] for s in common] if common else None
