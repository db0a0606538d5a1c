"""The table, the claims and the plot, from synthetic run results."""
import re

from experiments.scalenet_evidence.experiment import ARMS, Settings
from experiments.scalenet_evidence.plot import plot_curves
from experiments.scalenet_evidence.report import (check_claims, markdown_report, markdown_table,
                                         summarise)

TOP1 = {'pretrain': 80.0, 'scratch': 78.0, 'scalenet': 83.0, 'shared_noadapter': 81.0,
        'stacking': 83.5, 'interleave': 82.0, 'gate': 82.5, 'continue': 80.5,
        'pretrain_long': 80.05, 'lora_rank1': 82.0, 'lora_rank16': 83.4, 'bottleneck': 82.9,
        'lora_inserted': 82.2, 'adapter_lr4': 84.0}
PARAMS = {'pretrain': 1000, 'scratch': 2000, 'scalenet': 1100, 'shared_noadapter': 1000,
          'stacking': 2000, 'interleave': 1100, 'gate': 1110, 'continue': 1000,
          'pretrain_long': 1000, 'lora_rank1': 1025, 'lora_rank16': 1400, 'bottleneck': 1104,
          'lora_inserted': 1050, 'adapter_lr4': 1100}


def _results(settings, seeds=(0, 1, 2), failed=()):
    results = {}
    for arm in ARMS:
        epochs = {'pretrain': settings.pretrain_epochs,
                  'pretrain_long': int(1.5 * settings.pretrain_epochs),
                  'scratch': settings.scratch_epochs_resolved}.get(arm.name, settings.epochs)
        for seed in seeds:
            name = f'{arm.name}_seed{seed}'
            if name in failed:
                results[name] = dict(run=name, arm=arm.name, seed=seed, status='failed',
                                     error='boom')
                continue
            final = TOP1[arm.name] + 0.1 * seed
            curve = [(e, final - (epochs - e)) for e in range(1, epochs + 1)]
            results[name] = dict(run=name, arm=arm.name, seed=seed, status='ok',
                                 final_top1=final, train_top1=final + 5.0, curve=curve,
                                 wall_s=10.0 * epochs,
                                 cpu_s=5.0 * epochs,
                                 params=dict(total=PARAMS[arm.name]))
    return results


def test_table_has_a_complete_row_per_arm():
    settings = Settings(pretrain_epochs=6, epochs=2, layers=4, scale=2.0)
    summaries = summarise(_results(settings), settings)
    table = markdown_table(summaries)
    rows = [line for line in table.splitlines()[2:]]
    assert len(rows) == len(ARMS)
    for arm, row in zip(ARMS, rows):
        cells = [c.strip() for c in row.strip('|').split('|')]
        assert cells[0] == arm.label
        assert len(cells) == 11 and all(cells), row
        assert re.fullmatch(r'\d+\.\d\d \+- \d+\.\d\d', cells[2])
        assert re.fullmatch(r'\d+\.\d\d \+- \d+\.\d\d', cells[3])
        assert cells[4] == '3'
    scalenet = [c.strip() for c in rows[2].strip('|').split('|')]
    assert scalenet[1] == '2' and scalenet[2] == '83.10 +- 0.10'
    assert scalenet[3] == '88.10 +- 0.10'  # training top-1
    assert scalenet[5] == '8 (4)'  # 8 instances of 4 stored layers
    assert scalenet[6] == '1,100' and scalenet[7] == '+100 (+10.0%)'
    assert scalenet[8] == '20' and scalenet[9] == '10'
    assert scalenet[10] == '40'  # + the 30 s of CPU of the pretraining run
    scratch = [c.strip() for c in rows[1].strip('|').split('|')]
    # the paper's protocol: the deep model from scratch gets E epochs, as the base does
    assert scratch[1] == '6' and scratch[5] == '8 (8)'
    assert scratch[8] == '60' and scratch[9] == scratch[10] == '30'
    long_base = [c.strip() for c in rows[8].strip('|').split('|')]
    assert long_base[1] == '9'  # the plateau check trains 1.5E


def test_claims_report_the_paired_differences():
    settings = Settings()
    checks = {c['worse']: c for c in check_claims(summarise(_results(settings), settings))}
    assert set(checks) == {'pretrain', 'continue', 'pretrain_long', 'scratch',
                           'shared_noadapter', 'stacking'}
    assert checks['pretrain']['holds'] and checks['pretrain']['beyond_spread']
    assert [round(d, 6) for d in checks['pretrain']['per_seed']] == [3.0, 3.0, 3.0]
    # 83.0 against the 1.5E base's 80.05, on every seed
    assert checks['pretrain_long']['kind'] == 'beats' and checks['pretrain_long']['beyond_spread']
    assert round(checks['pretrain_long']['delta'], 6) == 2.95
    assert checks['scratch']['kind'] == 'matches' and checks['scratch']['holds']
    assert round(checks['shared_noadapter']['delta'], 6) == 2.0
    # 0.5 below stacking, whose seeds spread by 0.1: not within the spread
    assert checks['stacking']['kind'] == 'matches'
    assert round(checks['stacking']['delta'], 6) == -0.5 and not checks['stacking']['holds']


def test_single_seed_and_failures_are_reported_as_such(tmp_path):
    settings = Settings(seeds=(0,), pretrain_epochs=4, epochs=2)
    results = _results(settings, seeds=(0,), failed=('gate_seed0',))
    summaries = summarise(results, settings)
    report = markdown_report(summaries, settings, 'python experiments/reproduce_scalenet.py',
                             'accuracy.png', notes=['a note'])
    assert 'single seed run (no spread measured)' in report
    assert '## Failed runs' in report and 'gate: seed 0: boom' in report
    assert '![test accuracy per epoch](accuracy.png)' in report
    assert 'ScaleNet adds 100 parameters' in report
    assert '- a note' in report


def test_plot_is_written(tmp_path):
    settings = Settings(pretrain_epochs=6, epochs=2)
    out = plot_curves(summarise(_results(settings), settings), settings,
                      str(tmp_path / 'acc.png'))
    data = open(out, 'rb').read()
    assert data[:8] == b'\x89PNG\r\n\x1a\n' and len(data) > 10000


def test_regime_checks_read_plateau_training_accuracy_and_growth():
    from experiments.scalenet_evidence.regime import check_regime, markdown_regime
    settings = Settings()
    checks = {c['check']: c for c in check_regime(summarise(_results(settings), settings))}
    # 1.5E adds 0.05 while the seeds spread by 0.1: at the plateau
    assert checks['plateau']['holds'] and round(checks['plateau']['delta'], 6) == 0.05
    # training top-1 85.1 (< 98): underfits
    assert checks['underfits']['holds'] and round(checks['underfits']['train_top1'], 6) == 85.1
    # stacking 83.5 vs control 80.5 on every seed: growth helps
    assert checks['growth_helps']['holds'] and round(checks['growth_helps']['delta'], 6) == 3.0
    assert 'can show a gain from growth' in markdown_regime(list(checks.values()))

    results = _results(settings)
    for seed in range(3):  # a base that fits its data, and a longer base that gains
        results[f'pretrain_seed{seed}']['train_top1'] = 99.5
        results[f'pretrain_long_seed{seed}']['final_top1'] = 81.0 + 0.1 * seed
        results[f'stacking_seed{seed}']['final_top1'] = 80.5 + 0.1 * seed
    checks = {c['check']: c for c in check_regime(summarise(results, settings))}
    assert not checks['plateau']['holds'] and not checks['underfits']['holds']
    assert not checks['growth_helps']['holds']  # level with the control
    text = markdown_regime(list(checks.values()))
    assert 'fails the regime test (plateau, underfits, growth_helps)' in text
    assert 'Only the plateau fails' not in text

    results = _results(settings)
    for seed in range(3):  # only the plateau fails: the report says which claims still decide
        results[f'pretrain_long_seed{seed}']['final_top1'] = 81.0 + 0.1 * seed
    text = markdown_regime(check_regime(summarise(results, settings)))
    assert 'fails the regime test (plateau)' in text and 'Only the plateau fails' in text


def test_regime_checks_without_their_arms_say_not_measured():
    from experiments.scalenet_evidence.regime import check_regime, markdown_regime
    settings = Settings()
    results = {k: v for k, v in _results(settings).items()
               if not k.startswith(('pretrain_long', 'stacking'))}
    checks = {c['check']: c for c in check_regime(summarise(results, settings))}
    assert checks['plateau']['holds'] is None and checks['growth_helps']['holds'] is None
    assert checks['underfits']['holds'] is True
    assert "not measured (needs the arms 'pretrain_long', 'pretrain')" in \
        markdown_regime(list(checks.values()))


def test_adapter_study_ranks_the_adapters_against_scalenet():
    from experiments.scalenet_evidence.report import adapter_study
    settings = Settings()
    report = markdown_report(summarise(_results(settings), settings), settings, 'cmd')
    rows = adapter_study(summarise(_results(settings), settings))
    assert [r['arm'] for r in rows] == ['adapter_lr4', 'lora_rank16', 'scalenet', 'bottleneck',
                                        'lora_inserted', 'lora_rank1', 'shared_noadapter']
    by_arm = {r['arm']: r for r in rows}
    assert [round(d, 6) for d in by_arm['adapter_lr4']['vs_reference']] == [1.0, 1.0, 1.0]
    assert by_arm['scalenet']['vs_reference'] is None
    assert '## Adapter study' in report and '| (reference) |' in report
    assert '+1.00 (+1.00, +1.00, +1.00)' in report


def test_claim_lines_give_the_paired_differences_spread_beside_the_verdict():
    from experiments.scalenet_evidence.report import markdown_claims, paired_statistics

    assert paired_statistics([0.42, 0.10, 0.27, 0.40, 0.43]) == \
        "; above zero on 5 of 5 seeds, the differences' std 0.14"
    assert paired_statistics([-0.03, 0.27]) == "; above zero on 1 of 2 seeds, the differences' std 0.21"
    assert paired_statistics([0.5]) == ''
    check = dict(claim='ScaleNet beats the control', kind='beats', holds=True,
                 beyond_spread=False, better='scalenet', worse='continue', delta=0.324,
                 per_seed=[0.42, 0.10, 0.27, 0.40, 0.43], spread=0.35)
    line = markdown_claims([check])
    assert line.startswith('- ScaleNet beats the control: holds in the mean only')
    assert line.endswith("(per seed: +0.42, +0.10, +0.27, +0.40, +0.43; above zero on 5 of 5 "
                         "seeds, the differences' std 0.14).")


def test_scratch_architecture_claim_only_when_its_arm_ran_and_not_in_the_adapter_study():
    """``scalenet_scratch`` (ScaleNet's shared model from scratch, E epochs) adds one claim,
    ScaleNet grown from the base against it, and is no adapter variant."""
    from experiments.scalenet_evidence.report import adapter_study
    settings = Settings()
    results = _results(settings)
    assert 'scalenet_scratch' not in {c['worse'] for c in
                                      check_claims(summarise(results, settings))}
    for seed, top1 in enumerate((82.5, 83.2, 82.9)):
        results[f'scalenet_scratch_seed{seed}'] = dict(
            run=f'scalenet_scratch_seed{seed}', arm='scalenet_scratch', seed=seed, status='ok',
            final_top1=top1, train_top1=top1 + 5.0, curve=[(1, top1)], wall_s=60.0,
            cpu_s=30.0, params=dict(total=1100))
    from experiments.scalenet_evidence.experiment import ALL_ARMS
    summaries = summarise(results, settings, ALL_ARMS)
    checks = {c['worse']: c for c in check_claims(summaries)}
    claim = checks['scalenet_scratch']
    assert claim['better'] == 'scalenet' and claim['kind'] == 'beats'
    # ScaleNet 83.0 / 83.1 / 83.2 against 82.5 / 83.2 / 82.9
    assert [round(d, 6) for d in claim['per_seed']] == [0.5, -0.1, 0.3]
    assert claim['holds'] and not claim['beyond_spread']
    assert 'scalenet_scratch' not in {r['arm'] for r in adapter_study(summaries)}
    report = markdown_report(summaries, settings, 'cmd')
    assert "beats its own shared model trained from scratch" in report
