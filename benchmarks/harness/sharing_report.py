"""The table :mod:`benchmarks.sharing_cost` prints: optimizer step and DDP all-reduce per model,
each with its ratio to the reference model."""
from typing import Any, Dict, List, Mapping


def _ratio(value: float, reference: float) -> str:
    return f'{value / reference:.3f}x' if reference else '-'


def format_sharing(result: Mapping[str, Any]) -> str:
    """Markdown tables of ``result['optimizer']`` and ``result['allreduce']`` (either may be
    absent), one row per model, ratios to ``result['reference']``."""
    reference = result['reference']
    lines: List[str] = []
    for implementation, rows in result.get('optimizer', {}).items():
        ref: Dict[str, float] = rows[reference]
        lines += ['', f'AdamW ({implementation}) step alone, gradients in place:', '',
                  '| model | tensors | elements | state | step (median) | vs ' + reference + ' |',
                  '|---|---:|---:|---:|---:|---:|']
        for name in result['models']:
            row = rows[name]
            lines.append(
                f"| {name} | {row['tensors']} ({_ratio(row['tensors'], ref['tensors'])}) | "
                f"{row['elements'] / 1e6:.2f} M ({_ratio(row['elements'], ref['elements'])}) | "
                f"{row['state_bytes'] / 2**20:.0f} MiB | {1e3 * row['step_s']:.1f} ms | "
                f"{_ratio(row['step_s'], ref['step_s'])} |")
    allreduce = result.get('allreduce')
    if allreduce:
        ref = allreduce[reference]
        lines += ['', f"DDP gradient all-reduce per step ({allreduce['world_size']} processes, "
                      f"{allreduce['backend']}):", '',
                  '| model | buckets | bytes | all-reduce (median) | bytes vs ' + reference
                  + ' | time vs ' + reference + ' |', '|---|---:|---:|---:|---:|---:|']
        for name in result['models']:
            row = allreduce[name]
            lines.append(f"| {name} | {row['buckets']} | {row['bytes'] / 2**20:.0f} MiB | "
                         f"{1e3 * row['allreduce_s']:.1f} ms | "
                         f"{_ratio(row['bytes'], ref['bytes'])} | "
                         f"{_ratio(row['allreduce_s'], ref['allreduce_s'])} |")
    return '\n'.join(lines).lstrip('\n')
