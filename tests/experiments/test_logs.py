"""Reading per-epoch accuracy from mmengine's scalar logs."""
import json

import pytest

from experiments.scalenet_evidence.logs import read_accuracy_curve


def _write_scalars(path, records):
    path.parent.mkdir(parents=True)
    path.write_text(''.join(json.dumps(r) + '\n' for r in records))


def test_accuracy_curve_reads_validation_lines_and_later_runs_win(tmp_path):
    _write_scalars(tmp_path / '20250101_000000' / 'vis_data' / 'scalars.json', [
        dict(lr=0.1, loss=2.0, epoch=1, iter=10, step=10),
        {'accuracy/top1': 50.0, 'data_time': 0.1, 'time': 0.2, 'step': 1},
        {'accuracy/top1': 60.0, 'step': 2},
    ])
    # a resumed run re-evaluates epoch 2 and goes on
    _write_scalars(tmp_path / '20250101_010000' / 'vis_data' / 'scalars.json', [
        {'accuracy/top1': 61.0, 'step': 2},
        {'accuracy/top1': 70.0, 'step': 3},
    ])
    assert read_accuracy_curve(str(tmp_path)) == [(1, 50.0), (2, 61.0), (3, 70.0)]


def test_accuracy_curve_without_logs_says_why(tmp_path):
    with pytest.raises(FileNotFoundError, match='scalars.json'):
        read_accuracy_curve(str(tmp_path))
