"""Whether the experiment's regime can show the paper's claim at all (issue 20's regime test).

The paper's gain comes from growing a base model that is converged but still underfits: its
24-layer DeiT-S from scratch (79.31) is *below* the 12-layer base (79.8), and ScaleNet (81.13)
is above both. A miniature can only show that when, in its own numbers,

1. the base is at its plateau at E: trained 1.5E epochs it gains less than the seed spread
   (otherwise any extra epochs help, and growth is confounded with training longer);
2. the base still underfits: its training accuracy stays well below 100 %;
3. growth itself helps: the unshared copies (stacking, 2x the parameters) trained E' epochs
   beat the base trained E' more epochs without growing, beyond the seed spread. If no
   growth helps, a shared growth cannot either, and the regime must change.

Each check reads the per-seed results of the arms it needs and says ``holds`` (True/False) or
``None`` when an arm was not run.
"""
from typing import Any, Dict, List

from .summary import ArmSummary, paired_difference

#: Training accuracy (%) under which the base "still underfits".
UNDERFIT_BELOW = 98.0


def _spread(summaries: Dict[str, ArmSummary], *names: str) -> float:
    return max(summaries[name].top1_mean_std[1] for name in names)


def check_regime(summaries: Dict[str, ArmSummary]) -> List[Dict[str, Any]]:
    """The three regime checks, each with its numbers and a verdict."""
    checks: List[Dict[str, Any]] = []
    gain = paired_difference(summaries, 'pretrain_long', 'pretrain')
    text = 'the base is at its plateau at E (1.5E epochs gain less than the seed spread)'
    if gain is None:
        checks.append(dict(check='plateau', text=text, holds=None,
                           needs=['pretrain_long', 'pretrain']))
    else:
        delta = sum(gain) / len(gain)
        spread = _spread(summaries, 'pretrain_long', 'pretrain')
        checks.append(dict(check='plateau', text=text, delta=delta, per_seed=gain,
                           spread=spread, holds=delta < max(spread, 0.0) or delta <= 0.0))
    base = summaries.get('pretrain')
    text = f'the base still underfits (training top-1 below {UNDERFIT_BELOW:g} %)'
    if base is None or not base.train_top1:
        checks.append(dict(check='underfits', text=text, holds=None, needs=['pretrain']))
    else:
        train = base.train_top1_mean_std[0]
        checks.append(dict(check='underfits', text=text, train_top1=train,
                           test_top1=base.top1_mean_std[0], holds=train < UNDERFIT_BELOW))
    grown = paired_difference(summaries, 'stacking', 'continue')
    text = ("growth helps: unshared copies (stacking) beat the not-grown control after E' "
            'epochs, beyond the seed spread')
    if grown is None:
        checks.append(dict(check='growth_helps', text=text, holds=None,
                           needs=['stacking', 'continue']))
    else:
        delta = sum(grown) / len(grown)
        spread = _spread(summaries, 'stacking', 'continue')
        beyond = len(grown) > 1 and delta > spread and all(d > 0 for d in grown)
        checks.append(dict(check='growth_helps', text=text, delta=delta, per_seed=grown,
                           spread=spread, holds=bool(beyond) if len(grown) > 1 else delta > 0))
    return checks


def markdown_regime(checks: List[Dict[str, Any]]) -> str:
    """One bullet per regime check, and the conclusion."""
    lines = []
    for check in checks:
        if check['holds'] is None:
            lines.append(f'- {check["text"]}: not measured (needs the arms '
                         f'{", ".join(repr(n) for n in check["needs"])}).')
            continue
        verdict = 'yes' if check['holds'] else 'NO'
        if check['check'] == 'underfits':
            lines.append(f'- {check["text"]}: {verdict}: training top-1 '
                         f'{check["train_top1"]:.2f} %, test top-1 {check["test_top1"]:.2f} %.')
            continue
        per_seed = ', '.join(f'{d:+.2f}' for d in check['per_seed'])
        lines.append(f'- {check["text"]}: {verdict}: {check["delta"]:+.2f} points (per seed: '
                     f'{per_seed}; seed spread {check["spread"]:.2f}).')
    measured = [c for c in checks if c['holds'] is not None]
    if measured and all(c['holds'] for c in measured) and len(measured) == len(checks):
        lines.append('- So this regime can show a gain from growth: the claims below mean '
                     'something.')
    elif any(c['holds'] is False for c in measured):
        failed = ', '.join(c['check'] for c in measured if not c['holds'])
        lines.append(f'- So this regime fails the regime test ({failed}): a claim below that '
                     'does not hold says little about ScaleNet itself.')
        if failed == 'plateau':
            lines.append("- Only the plateau fails: the base still gains from more epochs, so "
                         "growth must beat the base trained E' more epochs (the control) and "
                         'the base trained 1.5E epochs, two claims below, to show more than '
                         'training longer.')
    return '\n'.join(lines)
