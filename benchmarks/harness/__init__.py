"""The measuring code behind ``benchmarks/*.py``: model builders, interleaved timing, isolated
worker processes, peak memory, sizes, throughput and the report tables.

Parameter and FLOP counting come from the installed package
(:mod:`scalenet_mm.utils.complexity`); everything here is research harness.
"""
import os
import os.path as osp
from typing import Dict

#: The repository root (the folder holding ``benchmarks/`` and ``scalenet_mm/``).
REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def worker_env() -> Dict[str, str]:
    """This process's environment with the repository root first on ``PYTHONPATH``.

    Worker processes are started as ``python -m benchmarks.harness.<module>``, which imports
    from the current directory; with the root on the path they work from any directory.
    """
    env = dict(os.environ)
    paths = [REPO_ROOT] + [p for p in env.get('PYTHONPATH', '').split(os.pathsep) if p]
    env['PYTHONPATH'] = os.pathsep.join(paths)
    return env
