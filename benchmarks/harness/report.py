"""Ratios to a reference model and the side-by-side table a benchmark prints.

Every figure is shown with its ratio to the reference model (the plain ViT or Swin of the same
depth), so one run's numbers can be read without knowing how fast the machine was. The ratio
labels of the JSON (:data:`KEY_RATIOS`, :data:`PAIRED_RATIOS`) say "ViT" for both families, so
they stay one set of keys; the printed lines say "Swin" for a Swin run (``word``).
"""
from typing import Any, Dict, List, Optional, Sequence, Tuple

from .timing import median

#: (field, column title, kind) in table order; ``kind`` picks the unit formatting.
COLUMNS: Tuple[Tuple[str, str, str], ...] = (
    ('train_step_s', 'train s/step', 'seconds'),
    ('train_img_s', 'train img/s', 'rate'),
    ('peak_train_memory_bytes', 'peak train mem', 'bytes'),
    ('infer_img_s', 'infer img/s', 'rate'),
    ('params', 'params', 'count'),
    ('optimizer_state_bytes', 'AdamW state', 'bytes'),
    ('checkpoint_bytes', 'checkpoint', 'bytes'),
    ('flops_per_image', 'FLOPs/img', 'flops'),
)

#: Row label of ScaleNet's inference with live (unmerged, uncached) adapters.
LIVE_ROW = 'scalenet-live'


def _fmt(value: Optional[float], kind: str) -> str:
    if value is None:
        return '-'
    if kind == 'seconds':
        return f'{value:.3g} s'
    if kind == 'rate':
        return f'{value:.3g}'
    if kind == 'bytes':
        return f'{value / 2**20:.1f} MiB' if value < 2**30 else f'{value / 2**30:.2f} GiB'
    if kind == 'count':
        return f'{value / 1e6:.2f} M' if value >= 1e5 else f'{int(value)}'
    if kind == 'flops':
        return f'{value / 1e9:.3g} G' if value >= 1e7 else f'{int(value)}'
    return str(value)


def table_rows(models: Dict[str, Dict[str, Any]]) -> List[Tuple[str, Dict[str, Any]]]:
    """Rows of the table: one per model, plus ScaleNet's live-adapter inference as its own row."""
    rows: List[Tuple[str, Dict[str, Any]]] = []
    for name, fields in models.items():
        rows.append((name, fields))
        if fields.get('infer_live_img_s') is not None:
            rows.append((LIVE_ROW, dict(infer_img_s=fields['infer_live_img_s'])))
    return rows


def compute_ratios(models: Dict[str, Dict[str, Any]], reference: str
                   ) -> Dict[str, Dict[str, Optional[float]]]:
    """``row -> field -> value / reference value`` (None where either is missing)."""
    ref = models.get(reference, {})
    ratios: Dict[str, Dict[str, Optional[float]]] = {}
    for row, fields in table_rows(models):
        ratios[row] = {}
        for field, _, _ in COLUMNS:
            value, base = fields.get(field), ref.get(field)
            ratios[row][field] = (value / base if value is not None and base else None)
    return ratios


def format_table(models: Dict[str, Dict[str, Any]], reference: str,
                 labels: Optional[Dict[str, str]] = None,
                 shape: Optional[Dict[str, Any]] = None) -> str:
    """A fixed-width table: each cell is ``value (ratio x)``; ratios are to ``reference``.

    With ``shape`` (a result's ``shape``) the first line names the model family and shape.
    """
    ratios = compute_ratios(models, reference)
    labels = labels or {}
    header = ['model'] + [title for _, title, _ in COLUMNS]
    lines: List[List[str]] = [header]
    for row, fields in table_rows(models):
        cells = [labels.get(row, row) + (' (ref)' if row == reference else '')]
        for field, _, kind in COLUMNS:
            value = fields.get(field)
            ratio = ratios[row][field]
            cell = _fmt(value, kind)
            if ratio is not None:
                cell += f' ({ratio:.3f}x)'
            cells.append(cell)
        lines.append(cells)
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    out = ['  '.join(cell.ljust(width) for cell, width in zip(line, widths)).rstrip()
           for line in lines]
    out.insert(1, '  '.join('-' * width for width in widths))
    if shape is not None:
        from .families import describe_shape
        out.insert(0, describe_shape(shape))
    return '\n'.join(out)


def format_ratio_table(models: Dict[str, Dict[str, Any]], reference: str,
                       fields: Sequence[str] = tuple(c[0] for c in COLUMNS)) -> str:
    """A Markdown table of ratios only (for documentation)."""
    ratios = compute_ratios(models, reference)
    titles = {field: title for field, title, _ in COLUMNS}
    lines = ['| model | ' + ' | '.join(titles[f] for f in fields) + ' |',
             '|---' * (len(fields) + 1) + '|']
    for row, _ in table_rows(models):
        cells = [f'{ratios[row][f]:.3f}' if ratios[row][f] is not None else '-' for f in fields]
        lines.append(f'| {row} | ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines)


#: (label, numerator row, numerator field, denominator row, denominator field): the ratios
#: ScaleNet's cost claims are judged by.
KEY_RATIOS: Tuple[Tuple[str, str, str, str, str], ...] = (
    ('train step: ScaleNet / plain same-depth ViT', 'scalenet', 'train_step_s', 'mmpretrain',
     'train_step_s'),
    ('train step: ScaleNet / timm same-depth ViT', 'scalenet', 'train_step_s', 'timm',
     'train_step_s'),
    ('train step, wall clock: ScaleNet / plain same-depth ViT', 'scalenet', 'train_step_wall_s',
     'mmpretrain', 'train_step_wall_s'),
    ('train step, CPU time: ScaleNet / plain same-depth ViT', 'scalenet', 'train_step_cpu_s',
     'mmpretrain', 'train_step_cpu_s'),
    ('inference time: ScaleNet merged / plain same-depth ViT', 'mmpretrain', 'infer_img_s',
     'scalenet', 'infer_img_s'),
    ('inference time: ScaleNet live adapters / plain same-depth ViT', 'mmpretrain',
     'infer_img_s', 'scalenet', 'infer_live_img_s'),
    ('inference time: exported plain ViT / plain same-depth ViT', 'mmpretrain', 'infer_img_s',
     'exported', 'infer_img_s'),
    ('unique params: ScaleNet / pretrained L-layer ViT', 'scalenet', 'params', 'pretrained',
     'params'),
    ('unique params: ScaleNet / plain same-depth ViT', 'scalenet', 'params', 'mmpretrain',
     'params'),
    ('checkpoint: ScaleNet / pretrained L-layer ViT', 'scalenet', 'checkpoint_bytes',
     'pretrained', 'checkpoint_bytes'),
    ('AdamW state: ScaleNet / plain same-depth ViT', 'scalenet', 'optimizer_state_bytes',
     'mmpretrain', 'optimizer_state_bytes'),
    ('peak train memory: ScaleNet / plain same-depth ViT', 'scalenet',
     'peak_train_memory_bytes', 'mmpretrain', 'peak_train_memory_bytes'),
)


def key_ratios(models: Dict[str, Dict[str, Any]]) -> Dict[str, Optional[float]]:
    """The ratios of :data:`KEY_RATIOS` (None where a model or field is missing).

    Inference rows compare times (reference images/s over the model's), so below 1 is faster.
    """
    out: Dict[str, Optional[float]] = {}
    for label, row_a, field_a, row_b, field_b in KEY_RATIOS:
        a = models.get(row_a, {}).get(field_a)
        b = models.get(row_b, {}).get(field_b)
        out[label] = a / b if a is not None and b else None
    return out


def _worded(label: str, word: str) -> str:
    """``label`` with its plain models called ``word`` (``'Swin'``) instead of ``ViT``."""
    return label.replace('ViT', word) if word != 'ViT' else label


def format_key_ratios(models: Dict[str, Dict[str, Any]], word: str = 'ViT') -> str:
    """One line per key ratio, for the end of a benchmark's output."""
    return '\n'.join(f'{_worded(label, word)}: {value:.3f}' if value is not None
                     else f'{_worded(label, word)}: -'
                     for label, value in key_ratios(models).items())


#: Per-round ratios (label, numerator model, denominator model, samples field): the models of
#: one round ran back to back, so drift between rounds cancels in their ratio.
PAIRED_RATIOS: Tuple[Tuple[str, str, str, str], ...] = (
    ('train step per round: ScaleNet / plain same-depth ViT', 'scalenet', 'mmpretrain',
     'train_step_samples_s'),
    ('train step per round: ScaleNet / timm same-depth ViT', 'scalenet', 'timm',
     'train_step_samples_s'),
)


def paired_ratios(models: Dict[str, Dict[str, Any]]) -> Dict[str, Optional[Dict[str, float]]]:
    """Median, lowest and highest of the round-by-round ratios of :data:`PAIRED_RATIOS`.

    The table's ratio of medians hides how much the machine moved; the spread of the
    per-round ratios shows it, so a difference inside that spread reads as noise.
    """
    out: Dict[str, Optional[Dict[str, float]]] = {}
    for label, numerator, denominator, field in PAIRED_RATIOS:
        a = models.get(numerator, {}).get(field)
        b = models.get(denominator, {}).get(field)
        if not a or not b or len(a) != len(b):
            out[label] = None
            continue
        ratios = [x / y for x, y in zip(a, b)]
        out[label] = dict(median=median(ratios), low=min(ratios), high=max(ratios),
                          rounds=len(ratios))
    return out


def format_paired_ratios(models: Dict[str, Dict[str, Any]], word: str = 'ViT') -> str:
    """One line per paired ratio: median and range over the rounds."""
    lines = []
    for label, value in paired_ratios(models).items():
        if value is not None:
            lines.append(f"{_worded(label, word)}: median {value['median']:.3f}, range "
                         f"{value['low']:.3f}-{value['high']:.3f} over {value['rounds']} rounds")
    return '\n'.join(lines)


def format_throughput(models: Dict[str, Dict[str, Any]], peak: Optional[float]) -> str:
    """Achieved TFLOP/s per model (training and inference), with the share of ``peak``."""
    def one(tflops: Optional[float]) -> str:
        if tflops is None:
            return '-'
        share = f' ({100 * tflops / peak:.1f}% of {peak:g})' if peak else ''
        return f'{tflops:.3g}{share}'

    lines = ['achieved TFLOP/s (2 x MACs; training = 3 passes): model: train | inference']
    for name, values in models.items():
        lines.append(f"  {name}: {one(values.get('train_tflops'))} | "
                     f"{one(values.get('infer_tflops'))}")
    return '\n'.join(lines)
