"""Summaries of the experiment's runs: per-arm statistics, paired comparisons, the markdown
table and the claims it checks."""
import math
import statistics
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, List, Optional, Tuple

from .experiment import ARMS, PRETRAIN, Arm, Settings, arm_epochs, arm_layers

#: (arm, compared arm, kind, what the paper says) checked by :func:`check_claims`. ``beats``:
#: the arm's mean is higher; ``matches``: it is not lower by more than the seed spread.
CLAIMS: Tuple[Tuple[str, str, str, str], ...] = (
    ('scalenet', 'pretrain', 'beats',
     "ScaleNet (E' epochs from the base) beats the base model it grew from (E epochs)"),
    ('scalenet', 'continue', 'beats',
     "ScaleNet beats the base trained as long without growing (the gain is depth, not epochs)"),
    ('scalenet', 'scratch', 'matches',
     "ScaleNet (E') reaches the deep model trained from scratch for the full schedule"),
    ('scalenet', 'shared_noadapter', 'beats',
     'per-instance adapters beat plain sharing (same epochs)'),
    ('scalenet', 'stacking', 'matches',
     'ScaleNet comes within the seed spread of unshared copies (stacking) with about half '
     'their parameters'),
)


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
    wall_s: List[float] = field(default_factory=list)
    cpu_s: List[float] = field(default_factory=list)
    curves: List[List[Tuple[int, float]]] = field(default_factory=list)
    params: Optional[int] = None
    failed: List[str] = field(default_factory=list)

    @property
    def top1_mean_std(self) -> Tuple[float, float]:
        return mean_std(self.top1)

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


def check_claims(summaries: Dict[str, ArmSummary]) -> List[Dict[str, Any]]:
    """Each claim with its mean difference, per-seed differences and a verdict.

    ``holds``: for ``beats``, the arm's mean is higher; for ``matches``, it is not lower by
    more than the larger seed standard deviation of the two arms. ``beyond_spread`` (for
    ``beats``): at least two seeds, the difference of means exceeds both arms' seed standard
    deviations and every seed agrees.
    """
    checks = []
    for better, worse, kind, text in CLAIMS:
        diffs = paired_difference(summaries, better, worse)
        if diffs is None:
            checks.append(dict(claim=text, better=better, worse=worse, kind=kind, holds=None))
            continue
        mean_a, std_a = summaries[better].top1_mean_std
        mean_b, std_b = summaries[worse].top1_mean_std
        delta, spread = mean_a - mean_b, max(std_a, std_b)
        beyond = bool(len(diffs) > 1 and delta > spread and all(d > 0 for d in diffs))
        checks.append(dict(
            claim=text, better=better, worse=worse, kind=kind, delta=delta, per_seed=diffs,
            spread=spread, holds=delta > 0 if kind == 'beats' else delta >= -spread,
            beyond_spread=beyond if kind == 'beats' else False))
    return checks


def _fmt_params(count: Optional[int]) -> str:
    return '-' if count is None else f'{count:,}'


def added_parameters(summaries: Dict[str, ArmSummary], name: str) -> Optional[Tuple[int, float]]:
    """Parameters an arm has beyond the pretrained L-layer model, and as a fraction of it."""
    base = summaries.get(PRETRAIN.name)
    arm = summaries.get(name)
    if base is None or arm is None or base.params is None or arm.params is None:
        return None
    return arm.params - base.params, (arm.params - base.params) / base.params


def markdown_table(summaries: Dict[str, ArmSummary]) -> str:
    """The results table: one row per arm.

    Times are means over seeds: wall time (depends on what else runs on the machine) and the
    training process's CPU time (user + system, far less load-dependent); the last column
    adds the pretrained run's CPU time to the arms that start from it.
    """
    pretrain = summaries.get(PRETRAIN.name)
    pretrain_cpu = pretrain.cpu_mean if pretrain and pretrain.cpu_s else None
    lines = ['| arm | epochs | test top-1 % (mean +- std) | seeds | layers run (stored) | '
             'unique params | +params vs L-layer model | wall / run (s) | CPU / run (s) | '
             'CPU incl. pretraining (s) |',
             '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|']
    for name, summary in summaries.items():
        mean, std = summary.top1_mean_std
        acc = '-' if not summary.top1 else f'{mean:.2f} +- {std:.2f}'
        added = added_parameters(summaries, name)
        added_text = '-' if added is None or name == PRETRAIN.name else \
            f'{added[0]:+,} ({100 * added[1]:+.1f}%)'
        wall = '-' if not summary.wall_s else f'{summary.wall_mean:.0f}'
        cpu = '-' if not summary.cpu_s else f'{summary.cpu_mean:.0f}'
        total = cpu
        if summary.arm.init != 'scratch' and summary.cpu_s and pretrain_cpu is not None:
            total = f'{summary.cpu_mean + pretrain_cpu:.0f}'
        seeds = f'{len(summary.top1)}' + (f' ({len(summary.failed)} failed)'
                                          if summary.failed else '')
        run, stored = summary.layers
        lines.append(f'| {summary.arm.label} | {summary.epochs} | {acc} | {seeds} | '
                     f'{run} ({stored}) | {_fmt_params(summary.params)} | {added_text} | {wall} | {cpu} | '
                     f'{total} |')
    return '\n'.join(lines)


def markdown_claims(checks: List[Dict[str, Any]]) -> str:
    """One bullet per claim: the verdict and the numbers behind it."""
    lines = []
    for check in checks:
        if check['holds'] is None:
            lines.append(f'- {check["claim"]}: not measured (needs the arms {check["better"]!r} '
                         f'and {check["worse"]!r}; one was not run).')
            continue
        if check['kind'] == 'matches':
            verdict = ('holds (not below it by more than the seed spread '
                       f'{check["spread"]:.2f})' if check['holds'] else 'DOES NOT HOLD')
        elif check['beyond_spread']:
            verdict = 'HOLDS beyond the seed spread'
        elif check['holds'] and len(check['per_seed']) < 2:
            verdict = 'holds for the single seed run (no spread measured)'
        elif check['holds']:
            verdict = 'holds in the mean only (within the seed spread)'
        else:
            verdict = 'DOES NOT HOLD'
        per_seed = ', '.join(f'{d:+.2f}' for d in check['per_seed'])
        lines.append(f'- {check["claim"]}: {verdict}: {check["better"]} - {check["worse"]} = '
                     f'{check["delta"]:+.2f} points (per seed: {per_seed}).')
    return '\n'.join(lines)


def markdown_report(summaries: Dict[str, ArmSummary], settings: Settings, command: str,
                    plot_file: Optional[str] = None, notes: Iterable[str] = (),
                    title: str = 'ScaleNet evidence: small ViT on Fashion-MNIST') -> str:
    """The whole ``results.md``: settings, table, claims, plot, failures."""
    s = settings
    parts = [
        f'# {title}', '',
        f'Command: `{command}`', '',
        f'Settings: L={s.layers} -> {s.deep_layers} layers (scale {s.scale:g}), width '
        f'{s.embed_dims}, {s.num_heads} heads, MLP {s.feedforward_channels}, patch '
        f'{s.patch_size}; LoRA rank {s.lora_rank}; E={s.pretrain_epochs}, E\'={s.epochs}, '
        f'deep model from scratch {s.scratch_epochs_resolved} epochs; training images: '
        f'{s.train_images:,} (the first of the train split); validation after every epoch: '
        f'the first {s.val_images:,} test images; reported test top-1: tools/test.py on the '
        f'final checkpoint, the first {s.test_images:,} test images; batch {s.batch_size}, '
        f'AdamW lr {s.lr:g} from scratch, {s.growth_lr:g} from the base model; seeds '
        f'{list(s.seeds)} (one base model per seed).', '',
        markdown_table(summaries), '',
        'Test top-1 is that of the final checkpoint (no best-epoch selection).', '',
        '## Claims', '', markdown_claims(check_claims(summaries)),
    ]
    added = added_parameters(summaries, 'scalenet')
    if added is not None:
        parts += ['', f'ScaleNet adds {added[0]:,} parameters to the pretrained L-layer model '
                  f'({100 * added[1]:.1f}%), for {settings.deep_layers - settings.layers} more '
                  f'layers run.']
    if plot_file:
        parts += ['', f'![test accuracy per epoch]({plot_file})']
    failures = [f'- {summary.arm.name}: {msg}' for summary in summaries.values()
                for msg in summary.failed]
    if failures:
        parts += ['', '## Failed runs', ''] + failures
    notes = list(notes)
    if notes:
        parts += ['', '## Notes', ''] + [f'- {note}' for note in notes]
    return '\n'.join(parts) + '\n'
