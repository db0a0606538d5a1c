"""Summaries of the experiment's runs: per-arm statistics, paired comparisons, the markdown
table and the claims it checks."""
import os.path as osp
from typing import Any, Dict, Iterable, List, Optional, Tuple

from . import swin_arms
from .experiment import PRETRAIN, REPO_ROOT, SWIN_PRETRAIN, Settings, base_arm
from .regime import check_regime, markdown_regime
from .summary import ArmSummary, mean_std, paired_difference, summarise

__all__ = ['ArmSummary', 'mean_std', 'paired_difference', 'summarise', 'check_claims',
           'markdown_table', 'markdown_claims', 'adapter_study', 'markdown_report']

#: (arm, compared arm, kind, what the paper says) checked by :func:`check_claims`. ``beats``:
#: the arm's mean is higher; ``matches``: it is not lower by more than the seed spread.
CLAIMS: Tuple[Tuple[str, str, str, str], ...] = (
    ('scalenet', 'pretrain', 'beats',
     "ScaleNet (E' epochs from the base) beats the base model it grew from (E epochs)"),
    ('scalenet', 'continue', 'beats',
     "ScaleNet beats the base trained as long without growing (the gain is depth, not epochs)"),
    ('scalenet', 'pretrain_long', 'beats',
     "ScaleNet (E + E' epochs in all) beats the base trained 1.5E epochs from scratch (more "
     "epochs than E + E', one schedule: the gain is not a longer schedule's either)"),
    ('scalenet', 'scratch', 'matches',
     "ScaleNet (E') reaches the deep model trained from scratch for the full schedule"),
    ('scalenet', 'shared_noadapter', 'beats',
     'per-instance adapters beat plain sharing (same epochs)'),
    ('scalenet', 'stacking', 'matches',
     'ScaleNet comes within the seed spread of unshared copies (stacking) with about half '
     'their parameters'),
)

#: Checked when the diagnosis arm ``scalenet_scratch`` ran (it is not in the default
#: experiment): the paper's "+7.42 over the same model trained from scratch, with a third of
#: the epochs", read as ScaleNet's own shared model.
SCRATCH_ARCHITECTURE_CLAIMS: Tuple[Tuple[str, str, str, str], ...] = (
    ('scalenet', 'scalenet_scratch', 'beats',
     "ScaleNet grown from the base (E' epochs) beats its own shared model trained from "
     "scratch for the full schedule E"),
)


def check_claims(summaries: Dict[str, ArmSummary]) -> List[Dict[str, Any]]:
    """Each claim with its mean difference, per-seed differences and a verdict.

    ``holds``: for ``beats``, the arm's mean is higher; for ``matches``, it is not lower by
    more than the larger seed standard deviation of the two arms. ``beyond_spread`` (for
    ``beats``): at least two seeds, the difference of means exceeds both arms' seed standard
    deviations and every seed agrees. The claims are :data:`CLAIMS` (unless only Swin arms
    ran), the Swin claims when a Swin arm ran, and :data:`SCRATCH_ARCHITECTURE_CLAIMS` when
    ``scalenet_scratch`` ran.
    """
    checks = []
    claims = () if swin_arms.only_swin(summaries) else CLAIMS
    claims += swin_arms.claims_for(list(summaries))
    if 'scalenet_scratch' in summaries:
        claims += SCRATCH_ARCHITECTURE_CLAIMS
    for better, worse, kind, text in claims:
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
    """Parameters an arm has beyond the pretrained L-layer model (a Swin arm: beyond the base
    Swin), and as a fraction of it."""
    arm = summaries.get(name)
    base = summaries.get(base_arm(arm.arm).name) if arm is not None else None
    if base is None or arm is None or base.params is None or arm.params is None:
        return None
    return arm.params - base.params, (arm.params - base.params) / base.params


def markdown_table(summaries: Dict[str, ArmSummary]) -> str:
    """The results table: one row per arm.

    Times are means over seeds: wall time (depends on what else runs on the machine) and the
    training process's CPU time (user + system, far less load-dependent); the last column
    adds the pretrained run's CPU time to the arms that start from it.
    """
    def base_cpu(summary: ArmSummary) -> Optional[float]:
        base = summaries.get(base_arm(summary.arm).name)
        return base.cpu_mean if base and base.cpu_s else None

    lines = ['| arm | epochs | test top-1 % (mean +- std) | training top-1 % | seeds | '
             'layers run (stored) | unique params | +params vs L-layer model | wall / run (s) | '
             'CPU / run (s) | CPU incl. pretraining (s) |',
             '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|']
    for name, summary in summaries.items():
        mean, std = summary.top1_mean_std
        acc = '-' if not summary.top1 else f'{mean:.2f} +- {std:.2f}'
        train_acc = ('-' if not summary.train_top1 else
                     '{:.2f} +- {:.2f}'.format(*summary.train_top1_mean_std))
        added = added_parameters(summaries, name)
        is_base = name in (PRETRAIN.name, SWIN_PRETRAIN.name)
        added_text = '-' if added is None or is_base else f'{added[0]:+,} ({100 * added[1]:+.1f}%)'
        wall = '-' if not summary.wall_s else f'{summary.wall_mean:.0f}'
        cpu = '-' if not summary.cpu_s else f'{summary.cpu_mean:.0f}'
        total = cpu
        pretrain_cpu = base_cpu(summary)
        if summary.arm.init != 'scratch' and summary.cpu_s and pretrain_cpu is not None:
            total = f'{summary.cpu_mean + pretrain_cpu:.0f}'
        seeds = f'{len(summary.top1)}' + (f' ({len(summary.failed)} failed)'
                                          if summary.failed else '')
        run, stored = summary.layers
        lines.append(f'| {summary.arm.label} | {summary.epochs} | {acc} | {train_acc} | {seeds} | '
                     f'{run} ({stored}) | {_fmt_params(summary.params)} | {added_text} | {wall} | {cpu} | '
                     f'{total} |')
    return '\n'.join(lines)


def paired_statistics(per_seed: List[float]) -> str:
    """``'; above zero on K of N seeds, the differences' std S'`` for two or more seeds, else
    ``''``. Shown beside each verdict, which compares the mean difference with the arms' own
    seed spread; the spread of the paired differences is smaller when the seeds move both arms
    alike, and a reader may weigh the two."""
    if len(per_seed) < 2:
        return ''
    above = sum(1 for d in per_seed if d > 0)
    return (f'; above zero on {above} of {len(per_seed)} seeds, the differences\' std '
            f'{mean_std(per_seed)[1]:.2f}')


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
                     f'{check["delta"]:+.2f} points (per seed: {per_seed}'
                     f'{paired_statistics(check["per_seed"])}).')
    return '\n'.join(lines)


#: The adapter study's arms, compared with ScaleNet's default adapter (rank-``lora_rank``
#: LoRA on qkv/proj/fc1/fc2 of every instance, the growth lr) and with no adapter at all.
STUDY_REFERENCE = 'scalenet'


def adapter_study(summaries: Dict[str, ArmSummary]) -> List[Dict[str, Any]]:
    """ScaleNet, plain sharing and every adapter-study arm that ran: mean +- std, unique
    parameters and the paired difference to ScaleNet's default adapter, best first."""
    names = [name for name, summary in summaries.items()
             if summary.top1 and (summary.arm.group == 'study'
                                  or name in (STUDY_REFERENCE, 'shared_noadapter'))]
    rows = []
    for name in names:
        summary = summaries[name]
        diffs = (None if name == STUDY_REFERENCE
                 else paired_difference(summaries, name, STUDY_REFERENCE))
        rows.append(dict(arm=name, label=summary.arm.label, top1=summary.top1_mean_std,
                         params=summary.params, vs_reference=diffs))
    return sorted(rows, key=lambda row: -row['top1'][0])


def markdown_study(rows: List[Dict[str, Any]], spread: float) -> str:
    """The adapter study's table (empty when only ScaleNet ran)."""
    if len(rows) < 2:
        return ''
    lines = ['| adapter | test top-1 % | unique params | minus ScaleNet (per seed) |',
             '|---|---:|---:|---|']
    for row in rows:
        diffs = row['vs_reference']
        versus = ('(reference)' if row['arm'] == STUDY_REFERENCE else '-' if not diffs else
                  f'{sum(diffs) / len(diffs):+.2f} ({", ".join(f"{d:+.2f}" for d in diffs)})')
        lines.append(f'| {row["label"]} | {row["top1"][0]:.2f} +- {row["top1"][1]:.2f} | '
                     f'{_fmt_params(row["params"])} | {versus} |')
    lines += ['', f'A difference counts only beyond the seed spread ({spread:.2f}, the largest '
              'standard deviation of these arms).']
    return '\n'.join(lines)


def markdown_report(summaries: Dict[str, ArmSummary], settings: Settings, command: str,
                    plot_file: Optional[str] = None, notes: Iterable[str] = (),
                    title: str = 'ScaleNet evidence: small ViT on Fashion-MNIST') -> str:
    """The whole ``results.md``: settings, table, claims, plot, failures."""
    s = settings
    only_swin = swin_arms.only_swin(summaries)
    model = (f'the Swin described below, grown {s.scale:g}x' if only_swin else
             f'L={s.layers} -> {s.deep_layers} layers (scale {s.scale:g}), width '
             f'{s.embed_dims}, {s.num_heads} heads, MLP {s.feedforward_channels}, patch '
             f'{s.patch_size}')
    parts = [
        f'# {title}', '',
        f'Command: `{command}`', '',
        f'Settings: {model}; LoRA rank {s.lora_rank}; E={s.pretrain_epochs}, E\'={s.epochs}, '
        f'deep model from scratch {s.scratch_epochs_resolved} epochs; training images: '
        f'{s.train_images:,} (the first of the train split); validation after every epoch: '
        f'the first {s.val_images:,} test images; reported test top-1: tools/test.py on the '
        f'final checkpoint, the first {s.test_images:,} test images; batch {s.batch_size}, '
        f'AdamW lr {s.lr:g} from scratch, {s.growth_lr:g} from the base model'
        + (f' (drop path {s.growth_drop_path:g})' if s.growth_drop_path else '') + '; seeds '
        f'{list(s.seeds)} (one base model per seed).', '',
        markdown_table(summaries), '',
        'Test top-1 is that of the final checkpoint (no best-epoch selection); training '
        f'top-1 is the same checkpoint on the first {s.train_eval_images:,} training images '
        '(no augmentation).', '',
    ]
    if not only_swin:  # the regime checks read the ViT arms
        parts += ['## Regime: can this setting show a gain from growth?', '',
                  markdown_regime(check_regime(summaries)), '']
    parts += ['## Claims', '', markdown_claims(check_claims(summaries))]
    study = adapter_study(summaries)
    if len(study) > 1:
        spread = max(row['top1'][1] for row in study)
        parts += ['', '## Adapter study', '', markdown_study(study, spread)]
    added = added_parameters(summaries, 'scalenet')
    if added is not None:
        parts += ['', f'ScaleNet adds {added[0]:,} parameters to the pretrained L-layer model '
                  f'({100 * added[1]:.1f}%), for {settings.deep_layers - settings.layers} more '
                  f'layers run.']
    swin = [summary.arm for summary in summaries.values() if swin_arms.is_swin(summary.arm)]
    if swin:
        parts += ['', swin_arms.describe(osp.join(REPO_ROOT, SWIN_PRETRAIN.config))]
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
