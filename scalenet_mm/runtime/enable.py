"""Config-level opt-in: importing this module calls :func:`scalenet_mm.runtime.install`.

In a config of your own::

    custom_imports = dict(imports=['scalenet_mm', 'scalenet_mm.runtime.enable'],
                          allow_failed_imports=False)
    default_hooks = dict(checkpoint=dict(type='SafeCheckpointHook', interval=1))

switches on atomic local writes, the scoped resume loader and verified downloads for the
process (see :mod:`scalenet_mm.runtime.install`). The work dir is not known when configs are
imported; ``SafeCheckpointHook`` trusts the Runner's work dir when the run starts, so its
checkpoints resume. Python imports a module once per process: after
:func:`scalenet_mm.runtime.uninstall`, importing this again does nothing (call ``install()``).
"""
from .install import install

install()
