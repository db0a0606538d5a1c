"""End to end: ``experiments/reproduce_scalenet.py`` at tiny sizes (64 training and 64 test images,
one seed, two epochs) runs every arm (the protocol, the ablations, the plateau check and the
adapter study) through ``tools/train.py`` and ``tools/test.py`` and writes the table, the regime
test, the claims, the adapter study, the JSON results and the plot, with every field filled."""
import json
import os.path as osp
import subprocess
import sys

import pytest

from scalenet_mm.datasets.fashion_mnist import DEBIAN_DIR, find_source
from experiments.scalenet_evidence.experiment import ARMS

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
HAVE_DATA = find_source([DEBIAN_DIR]) is not None


@pytest.mark.slow
@pytest.mark.timeout(1800)
@pytest.mark.skipif(not HAVE_DATA, reason='needs the Debian package dataset-fashion-mnist')
def test_tiny_experiment_runs_every_arm_and_writes_table_and_plot(tmp_path):
    work = tmp_path / 'evidence'
    # run from another folder: the command resolves its configs and tools from its own file
    cmd = [sys.executable, osp.join(REPO, 'experiments', 'reproduce_scalenet.py'),
           '--work-dir', str(work),
           '--seeds', '0', '--train-size', '64', '--val-size', '48', '--test-size', '64',
           '--pretrain-epochs', '2', '--epochs', '2', '--scratch-epochs', '3', '--layers', '1',
           '--embed-dims', '16', '--num-heads', '2', '--ffn', '32', '--lora-rank', '2',
           '--batch-size', '32']
    proc = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=1700)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]

    results = json.loads((work / 'results.json').read_text())
    assert {r['arm'] for r in results['runs'].values()} == {a.name for a in ARMS}
    for run in results['runs'].values():
        assert run['status'] == 'ok', run
        # the deep model from scratch: --scratch-epochs; the plateau check: 1.5E = 3
        epochs = 3 if run['arm'] in ('scratch', 'pretrain_long') else 2
        assert [e for e, _ in run['curve']] == list(range(1, epochs + 1)), run['run']
        assert run['params']['total'] > 0 and run['wall_s'] > 0 and run['cpu_s'] > 0
        # the reported top-1 is tools/test.py's, on the 64 test images asked for
        assert run['test']['images'] == 64 and run['final_top1'] == \
            run['test']['metrics']['accuracy/top1']
        # the data each run used is what the report states: 64 images, batches of 32
        log = open(run['log']).read()
        assert 'Epoch(train) [1][2/2]' in log and '[3/' not in log, run['run']
        assert 'Epoch(val) [1][1/1]' in log  # 48 validation images, batch of 64
        # the training accuracy: tools/test.py on every one of the 64 training images
        assert run['train_eval']['images'] == 64 and 0.0 <= run['train_top1'] <= 100.0
    assert 'training images: 64 ' in (work / 'results.md').read_text()
    params = {r['arm']: r['params']['total'] for r in results['runs'].values()}
    assert params['shared_noadapter'] == params['pretrain']  # sharing adds nothing
    assert params['pretrain'] < params['scalenet'] < params['stacking'] == params['scratch']

    table = (work / 'results.md').read_text()
    lines = table.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith('| arm |'))
    rows = []  # the main table: from its header to the first line that is not a row
    for line in lines[header + 2:]:
        if not line.startswith('| '):
            break
        rows.append(line)
    assert len(rows) == len(ARMS)
    for row in rows:
        cells = [c.strip() for c in row.strip('|').split('|')]
        assert len(cells) == 11 and all(cells), row
    assert '## Claims' in table and 'accuracy.png' in table
    # the regime test: each of its three checks measured, with a verdict
    assert [c['check'] for c in results['regime']] == ['plateau', 'underfits', 'growth_helps']
    assert all(c['holds'] in (True, False) for c in results['regime'])
    assert '## Regime' in table and 'not measured' not in table.split('## Regime')[1].split(
        '## Claims')[0]
    # every claim measured (all arms ran)
    claims = table.split('## Claims')[1].split('##')[0]
    assert claims.count('- ') >= 5 and 'not measured' not in claims
    # the adapter study: every study arm, plain sharing and the default ScaleNet, ranked
    study = {row['arm'] for row in results['adapter_study']}
    assert study == {a.name for a in ARMS if a.group == 'study'} | {'scalenet',
                                                                    'shared_noadapter'}
    assert '## Adapter study' in table and '(reference)' in table
    # the study arms differ from ScaleNet only in the adapter: their parameter counts say so
    assert params['lora_rank1'] < params['scalenet'] < params['lora_rank16']
    assert params['lora_inserted'] < params['scalenet'] == params['adapter_lr4']
    png = (work / 'accuracy.png').read_bytes()
    assert png[:8] == b'\x89PNG\r\n\x1a\n'
    stacked = work / 'runs' / 'stacking_seed0' / 'stacked_init.pth'
    assert stacked.is_file()
    # growth arms start from the base's published weights-only file
    published = results['runs']['pretrain_seed0']['published']
    assert results['runs']['scalenet_seed0']['cfg_options'][
        'model.backbone.init_cfg.checkpoint'] == published

    # instance use: with nothing skipped it is tools/test.py's top-1 on the same 64 images
    from experiments.scalenet_evidence.instance_use import instance_use
    for name, instances in (('scalenet_seed0', 2), ('stacking_seed0', 2), ('pretrain_seed0', 1)):
        use = instance_use(str(work / 'runs' / name))
        assert use['full'] == pytest.approx(results['runs'][name]['final_top1'], abs=1e-4), name
        assert len(use['skipped']) == instances and all(0 <= v <= 100 for v in use['skipped'])

    # a second invocation reuses every finished run
    again = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0
    assert again.stdout.count('] reused: test top-1') == len(ARMS)

    # a new test size tests again and trains nothing
    retest = subprocess.run([*cmd, '--test-size', '32'], cwd=tmp_path,
                            capture_output=True, text=True, timeout=900)
    assert retest.returncode == 0, retest.stdout[-3000:]
    assert retest.stdout.count('trained already; testing again') == len(ARMS)
    assert ' started (pid' not in retest.stdout
    results = json.loads((work / 'results.json').read_text())
    assert all(r['test']['images'] == 32 for r in results['runs'].values())
