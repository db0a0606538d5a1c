"""The detection experiment's table, claims, mAP-vs-iterations plot and prediction pictures."""
import os.path as osp
import statistics
from dataclasses import asdict
from typing import Any, Dict, List, Optional, Sequence

import matplotlib

matplotlib.use('Agg')  # files only
import matplotlib.pyplot as plt  # noqa: E402

from scalenet_mm.engine.atomic_checkpoint import atomic_path  # noqa: E402

from .logs import METRIC_KEYS  # noqa: E402
from .plan import DetArm, DetSettings  # noqa: E402

#: Table columns: result key, heading.
COLUMNS = (('bbox_mAP', 'bbox mAP'), ('bbox_mAP_50', 'bbox mAP@.5'), ('segm_mAP', 'segm mAP'),
           ('segm_mAP_50', 'segm mAP@.5'), ('train_wall_s', 'train wall (s)'),
           ('test_wall_s', 'test wall (s)'))


def _mean_std(values: List[float]) -> Dict[str, Optional[float]]:
    if not values:
        return dict(mean=None, std=None, n=0)
    return dict(mean=statistics.fmean(values),
                std=statistics.stdev(values) if len(values) > 1 else 0.0, n=len(values))


def summarise(results: Dict[str, Dict[str, Any]], arms: Sequence[DetArm]) -> Dict[str, Dict]:
    """Per arm: mean / std / n over its finished seeds of every column, and its params."""
    out: Dict[str, Dict] = {}
    for arm in arms:
        done = [r for r in results.values() if r.get('arm') == arm.name and r.get('status') == 'ok']
        entry: Dict[str, Any] = {key: _mean_std([float(r[key]) for r in done])
                                 for key, _ in COLUMNS}
        entry['seeds'] = sorted(r['seed'] for r in done)
        entry['failed'] = sorted(r['run'] for r in results.values()
                                 if r.get('arm') == arm.name and r.get('status') != 'ok')
        params = next((r.get('params') for r in done if r.get('params')), None)
        entry['params'] = params
        out[arm.name] = entry
    return out


def _cell(stat: Dict[str, Optional[float]], digits: int = 3) -> str:
    if stat['mean'] is None:
        return 'n/a'
    if stat['n'] > 1:
        return f'{stat["mean"]:.{digits}f} ± {stat["std"]:.{digits}f}'
    return f'{stat["mean"]:.{digits}f}'


def markdown_table(summary: Dict[str, Dict], arms: Sequence[DetArm]) -> str:
    """Mean ± std over seeds of every column, one line per arm."""
    head = ['arm', 'seeds', 'backbone params'] + [h for _, h in COLUMNS]
    lines = ['| ' + ' | '.join(head) + ' |', '|' + '---|' * len(head)]
    for arm in arms:
        s = summary[arm.name]
        params = s['params']['backbone'] if s.get('params') else None
        cells = [arm.label, str(len(s['seeds'])),
                 f'{params / 1e6:.2f} M' if params else 'n/a']
        cells += [_cell(s[key], 0 if key.endswith('wall_s') else 3) for key, _ in COLUMNS]
        lines.append('| ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines)


#: The pairs a claim compares: (claim prefix, the grown arm, the arm it must beat).
CLAIM_PAIRS = (('scalenet_minus_base', 'scalenet_2x', 'vit_L'),
               ('scalenet_minus_continued', 'scalenet_2x', 'vit_L_continued'),
               ('swin_scalenet_minus_base', 'scalenet_swin_2x', 'swin'),
               ('depth_helps', 'vit_2L_scratch', 'vit_L_scratch'))


def check_claims(summary: Dict[str, Dict]) -> Dict[str, Any]:
    """The issue's two claims, with the numbers: (b) > (a) beyond the seed spread (the
    difference of the means exceeds the sum of the standard deviations), and (b)'s mask mAP
    against the reference arm (d); when they ran, also (b) > (a+) (the base classifier trained
    as long as (b)'s grow stage), (f) > (e) (the Swin arms) and the regime check (c) > (a0)
    (does depth pay at all here?) the same way."""
    claims: Dict[str, Any] = {}
    for key in ('segm_mAP', 'bbox_mAP'):
        for prefix, top_name, bottom_name in CLAIM_PAIRS:
            top, bottom = summary.get(top_name), summary.get(bottom_name)
            if top and bottom and top[key]['mean'] is not None and \
                    bottom[key]['mean'] is not None:
                diff = top[key]['mean'] - bottom[key]['mean']
                spread = top[key]['std'] + bottom[key]['std']
                claims[f'{prefix}_{key}'] = dict(
                    difference=diff, spread=spread,
                    holds=bool(diff > spread and min(top[key]['n'], bottom[key]['n']) > 1))
        b, d = summary.get('scalenet_2x'), summary.get('resnet18_scratch')
        if b and d and b[key]['mean'] is not None and d[key]['mean']:
            claims[f'scalenet_over_reference_{key}'] = b[key]['mean'] / d[key]['mean']
    return claims


_CLAIM_SUBJECTS = {
    'scalenet_minus_base': '(b) ScaleNet 2x beats (a) the L-layer ViT it grew from',
    'scalenet_minus_continued': "(b) ScaleNet 2x beats (a+) the L-layer ViT from its classifier "
                                "trained as long as (b)'s grow stage",
    'swin_scalenet_minus_base': '(f) ScaleNet Swin 2x beats (e) the Swin it grew from',
    'depth_helps': 'regime: (c) the 2L-layer ViT from scratch beats (a0) the L-layer ViT from '
                   'scratch (where depth does not pay, no growth of depth can show a gain)',
}


def claim_lines(claims: Dict[str, Any]) -> List[str]:
    """One sentence per claim of :func:`check_claims`: what is claimed, the numbers, and
    whether it holds (a difference beyond the seed spread) or what (b) reaches of (d)."""
    lines = []
    for key, value in claims.items():
        prefix, metric = key.rsplit('_', 2)[0], '_'.join(key.rsplit('_', 2)[1:])
        if prefix in _CLAIM_SUBJECTS:
            verdict = ('holds' if value['holds'] else
                       'DOES NOT HOLD' if value['difference'] <= 0 else
                       'holds in the mean only (within the seed spread or one seed)')
            lines.append(f'{_CLAIM_SUBJECTS[prefix]}, {metric}: {verdict}: difference '
                         f'{value["difference"]:+.3f} (seed spread {value["spread"]:.3f})')
        elif prefix == 'scalenet_over_reference':
            lines.append(f'(b) ScaleNet 2x reaches {value:.2f} of the {metric} of (d), the '
                         f'ResNet-18 FPN reference')
    return lines


def plot_curves(results: Dict[str, Dict[str, Any]], arms: Sequence[DetArm],
                settings: DetSettings, out_file: str) -> str:
    """bbox and segm mAP (on the first ``curve_val`` val canvases) against training
    iterations, mean over seeds, one line per arm; written atomically."""
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5), sharex=True)
    for arm in arms:
        curves = [r['curve'] for r in results.values()
                  if r.get('arm') == arm.name and r.get('status') == 'ok' and r.get('curve')]
        if not curves:
            continue
        iters = sorted(set.intersection(*[{p['iter'] for p in c} for c in curves]))
        for ax, key in zip(axes, ('coco/segm_mAP', 'coco/bbox_mAP')):
            means = [statistics.fmean(p[key] for c in curves for p in c if p['iter'] == i)
                     for i in iters]
            ax.plot(iters, means, marker='o', label=f'{arm.label} (n={len(curves)})')
    for ax, title in zip(axes, ('segm mAP@[.5:.95]', 'bbox mAP@[.5:.95]')):
        ax.set_xlabel('training iterations')
        ax.set_title(title)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel(f'mAP, first {settings.curve_val} val canvases')
    axes[0].legend(fontsize=8)
    fig.suptitle(f'Mask R-CNN on Fashion-MNIST canvases ({settings.image} px, '
                 f'{settings.num_train} train canvases, batch {settings.batch}), '
                 f'mean over seeds')
    fig.tight_layout()
    with atomic_path(out_file) as tmp:
        fig.savefig(tmp, dpi=110, format='png')
    plt.close(fig)
    return out_file


def picture_sheet(results: Dict[str, Dict[str, Any]], arms: Sequence[DetArm], out_file: str,
                  per_arm: int = 4) -> Optional[str]:
    """One row per arm: its first seed's predictions on the first ``per_arm`` val canvases
    (mmdet's visualiser, drawn by ``tools/test.py --show-dir``); None when there are none."""
    rows = []
    for arm in arms:
        done = sorted((r for r in results.values()
                       if r.get('arm') == arm.name and r.get('status') == 'ok'),
                      key=lambda r: r['seed'])
        if done and done[0].get('pictures'):
            rows.append((arm, done[0]['seed'], done[0]['pictures'][:per_arm]))
    if not rows:
        return None
    cols = max(len(p) for _, _, p in rows)
    fig, axes = plt.subplots(len(rows), cols, figsize=(4.2 * cols, 2.4 * len(rows)),
                             squeeze=False)
    for r, (arm, seed, pictures) in enumerate(rows):
        for c in range(cols):
            ax = axes[r][c]
            ax.axis('off')
            if c < len(pictures):
                ax.imshow(plt.imread(pictures[c]))
                ax.set_title(osp.basename(pictures[c]), fontsize=7)
        axes[r][0].text(-0.05, 0.5, f'{arm.name}\nseed {seed}', transform=axes[r][0].transAxes,
                        ha='right', va='center', fontsize=8)
    fig.tight_layout()
    with atomic_path(out_file) as tmp:
        fig.savefig(tmp, dpi=110, format='png')
    plt.close(fig)
    return out_file


def markdown_report(summary: Dict[str, Dict], claims: Dict[str, Any], arms: Sequence[DetArm],
                    settings: DetSettings, command: str, files: Dict[str, Optional[str]],
                    notes: Sequence[str]) -> str:
    """The report: command, settings, table, claims, figure and picture links, notes."""
    lines = ['# Detection on Fashion-MNIST canvases: ScaleNet 2x vs its base and references',
             '', f'Command: `{command}`', '', f'Settings: `{asdict(settings)}`', '',
             markdown_table(summary, arms), '',
             'mAP: pycocotools on all val canvases (tools/test.py); mean ± std over seeds. '
             f'Metric keys: {", ".join(METRIC_KEYS)}.', '', '## Claims', '']
    lines += [f'- {line}' for line in claim_lines(claims)]
    if not claims:
        lines.append('- not enough finished arms to compare')
    lines += ['', f'![mAP against iterations]({osp.basename(files["plot"])})', '']
    if files.get('pictures'):
        lines += [f'![predictions]({osp.basename(files["pictures"])})', '']
    failed = [name for s in summary.values() for name in s['failed']]
    if failed:
        lines += [f'Failed or skipped runs: {", ".join(failed)}', '']
    lines += [f'- {note}' for note in notes]
    return '\n'.join(lines) + '\n'
