"""``import scalenet_mm`` adds names only; ``scalenet_mm.runtime.install()`` switches the
fixes on and ``uninstall()`` restores every framework object.

Runs in a fresh interpreter: the objects are snapshotted before anything of scalenet_mm is
imported, so the test fails if any import replaces one of them (as the package did before
the fixes became opt-in)."""
import json
import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent('''
    import json
    import torch
    import mmcv.transforms  # noqa: F401  (mmcv's LoadImageFromFile)
    import mmdet.datasets  # noqa: F401  (mmdet's transforms are registered)
    import mmengine.utils
    import mmpretrain.datasets  # noqa: F401
    from mmdet.registry import HOOKS as DET_HOOKS, TRANSFORMS as DET_TRANSFORMS
    from mmengine.config.utils import MODULE2PACKAGE
    from mmengine.fileio import io as mmengine_io
    from mmengine.fileio.backends import backends, prefix_to_backends
    from mmengine.registry import HOOKS
    from mmengine.runner.checkpoint import CheckpointLoader
    from mmpretrain.registry import HOOKS as PRE_HOOKS, TRANSFORMS as PRE_TRANSFORMS

    PREFIXES = ('', 'http://', 'https://', 'torchvision://', 'open-mmlab://', 'mmcls://')

    def snapshot():
        objects = {f'scheme[{p!r}]': CheckpointLoader._schemes.get(p) for p in PREFIXES}
        objects['prefix_to_backends[""]'] = prefix_to_backends.get('')
        objects['backends["local"]'] = backends.get('local')
        for name, registry in (('mmengine', HOOKS), ('mmpretrain', PRE_HOOKS),
                               ('mmdet', DET_HOOKS)):
            with registry.switch_scope_and_registry(registry.scope) as scoped:
                objects[f'{name} HOOKS CheckpointHook'] = scoped.get('CheckpointHook')
        for name, registry in (('mmpretrain', PRE_TRANSFORMS), ('mmdet', DET_TRANSFORMS)):
            with registry.switch_scope_and_registry(registry.scope) as scoped:
                objects[f'{name} TRANSFORMS LoadImageFromFile'] = scoped.get('LoadImageFromFile')
        objects['mmengine.utils.get_installed_path'] = mmengine.utils.get_installed_path
        import mmengine.config.config as mm_config
        objects['mmengine.config.config.get_installed_path'] = mm_config.get_installed_path
        objects['torch.load'] = torch.load
        for key, value in MODULE2PACKAGE.items():
            objects[f'MODULE2PACKAGE[{key!r}]'] = value
        return objects

    def compare(before, after):
        return sorted(k for k in before if after.get(k) is not before[k])

    before = snapshot()
    cached = dict(mmengine_io.backend_instances)
    import scalenet_mm  # noqa: F401
    import scalenet_mm.runtime as runtime
    after_import = snapshot()
    report = dict(changed_by_import=compare(before, after_import),
                  added_module2package=sorted(set(MODULE2PACKAGE) - {
                      k[len("MODULE2PACKAGE['"):-2] for k in before
                      if k.startswith('MODULE2PACKAGE')}),
                  fixes_after_import=runtime.active_fixes())

    runtime.install()
    runtime.install()  # idempotent
    installed = snapshot()
    from scalenet_mm.checkpoint.download import load_from_http_verified
    from scalenet_mm.engine.atomic_checkpoint import AtomicLocalBackend
    from scalenet_mm.runtime import load_from_local_trusted
    report['fixes_installed'] = runtime.active_fixes()
    report['installed_local'] = installed["scheme['']"] is load_from_local_trusted
    report['installed_http'] = installed["scheme['https://']"] is load_from_http_verified
    report['installed_backend'] = installed['prefix_to_backends[""]'] is AtomicLocalBackend
    report['changed_by_install'] = compare(before, installed)

    runtime.uninstall()
    report['changed_after_uninstall'] = compare(before, snapshot())
    report['fixes_after_uninstall'] = runtime.active_fixes()
    report['cache_restored'] = all(
        mmengine_io.backend_instances.get(k) is v for k, v in cached.items())

    with runtime.installed():
        report['fixes_in_context'] = runtime.active_fixes()
    report['changed_after_context'] = compare(before, snapshot())
    print('REPORT', json.dumps(report))
''')


def test_import_changes_nothing_and_install_is_reversible() -> None:
    proc = subprocess.run([sys.executable, '-c', SCRIPT], capture_output=True, text=True,
                          timeout=300)
    lines = [line for line in proc.stdout.splitlines() if line.startswith('REPORT ')]
    assert proc.returncode == 0 and lines, proc.stdout[-3000:] + proc.stderr[-3000:]
    report = json.loads(lines[0][len('REPORT '):])

    assert report['changed_by_import'] == []
    assert report['added_module2package'] == ['scalenet_mm']  # the one additive entry
    off = dict(atomic_writes=False, trusted_resume=False, verified_downloads=False)
    assert report['fixes_after_import'] == off

    assert report['fixes_installed'] == dict(atomic_writes=True, trusted_resume=True,
                                             verified_downloads=True)
    assert report['installed_local'] and report['installed_http']
    assert report['installed_backend']
    # exactly the loaders and the local backend change, nothing else
    assert set(report['changed_by_install']) == {
        "scheme['']", "scheme['http://']", "scheme['https://']", "scheme['torchvision://']",
        "scheme['open-mmlab://']", "scheme['mmcls://']", 'prefix_to_backends[""]',
        'backends["local"]'}

    assert report['changed_after_uninstall'] == []
    assert report['fixes_after_uninstall'] == off
    assert report['cache_restored']
    assert all(report['fixes_in_context'].values())
    assert report['changed_after_context'] == []
