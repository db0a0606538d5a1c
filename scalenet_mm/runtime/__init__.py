"""Runtime support for training and testing with mmengine on a current torch.

Importing this package changes nothing. :func:`install` (or, in a config,
``custom_imports=dict(imports=['scalenet_mm', 'scalenet_mm.runtime.enable'])``) switches the
project's fixes to the stack on -- atomic local writes, the scoped resume loader, verified
downloads -- and :func:`uninstall` / :func:`installed` switch them off again (see
:mod:`.install`). The rest is used by ``tools/train.py`` and ``tools/test.py``: CPU-only
distributed runs (:mod:`.distributed`), the command-line options (:mod:`.options`,
:mod:`.visualization`) and building the Runner (:mod:`.runner`).
"""
from .checkpoint_loading import (TRUST_ENV, is_trusted, load_from_local_trusted,
                                 local_checkpoint_loader_registered, trust_checkpoints,
                                 trusted_checkpoints, untrust_checkpoints)
from .distributed import (cpu_model_wrapper_cfg, export_launcher_env, needs_cpu_distributed,
                          setup_distributed, shutdown_distributed)
from .install import active_fixes, install, installed, uninstall
from .options import (check_dump_file, enable_amp, enable_auto_scale_lr, enable_compile,
                      export_local_rank, set_checkpoint, set_launcher, set_resume,
                      set_work_dir)
from .runner import add_dump_results, build_runner
from .visualization import enable_visualization

__all__ = [
    'TRUST_ENV', 'is_trusted', 'load_from_local_trusted', 'local_checkpoint_loader_registered',
    'trust_checkpoints', 'trusted_checkpoints', 'untrust_checkpoints', 'active_fixes',
    'install', 'installed', 'uninstall', 'cpu_model_wrapper_cfg', 'export_launcher_env',
    'needs_cpu_distributed', 'setup_distributed', 'shutdown_distributed', 'check_dump_file',
    'enable_amp', 'enable_auto_scale_lr', 'enable_compile', 'export_local_rank',
    'set_checkpoint', 'set_launcher', 'set_resume', 'set_work_dir', 'add_dump_results',
    'build_runner', 'enable_visualization'
]
