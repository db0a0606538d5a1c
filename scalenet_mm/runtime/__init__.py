"""Runtime support for training and testing with mmengine on a current torch.

Importing this package (``import scalenet_mm`` does) registers the trusted local checkpoint
loader, so Runner checkpoints can be resumed on torch >= 2.6 (see
:mod:`.checkpoint_loading`). The rest is used by ``tools/train.py`` and ``tools/test.py``:
CPU-only distributed runs (:mod:`.distributed`), the command-line options
(:mod:`.options`, :mod:`.visualization`) and building the Runner (:mod:`.runner`).
"""
from .checkpoint_loading import (load_from_local_trusted, local_checkpoint_loader_registered,
                                 register_local_checkpoint_loader)
from .distributed import (cpu_model_wrapper_cfg, export_launcher_env, needs_cpu_distributed,
                          setup_distributed, shutdown_distributed)
from .options import (check_dump_file, enable_amp, enable_auto_scale_lr, export_local_rank,
                      set_checkpoint, set_launcher, set_resume, set_work_dir)
from .runner import add_dump_results, build_runner
from .visualization import enable_visualization

register_local_checkpoint_loader()

__all__ = [
    'load_from_local_trusted', 'local_checkpoint_loader_registered',
    'register_local_checkpoint_loader', 'cpu_model_wrapper_cfg', 'export_launcher_env',
    'needs_cpu_distributed', 'setup_distributed', 'shutdown_distributed', 'check_dump_file',
    'enable_amp', 'enable_auto_scale_lr', 'export_local_rank', 'set_checkpoint', 'set_launcher',
    'set_resume', 'set_work_dir', 'add_dump_results', 'build_runner', 'enable_visualization'
]
