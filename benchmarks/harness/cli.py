"""Command-line checks shared by the benchmark scripts (``benchmarks/*.py``)."""
import argparse
import json
import os
from typing import Any, Dict, Optional


def check_writable(parser: argparse.ArgumentParser, path: str) -> None:
    """Fail before measuring (not after minutes of it) when ``--out path`` cannot be written."""
    folder = os.path.dirname(os.path.abspath(path))
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as error:
        parser.error(f'--out {path}: cannot create {folder} ({error.strerror}); '
                     f'choose a writable folder')
    if not os.access(folder, os.W_OK):
        parser.error(f'--out {path}: {folder} is not writable; choose a writable folder')


def print_and_save(result: Dict[str, Any], table: str, out: Optional[str]) -> None:
    """Print the machine ``result['machine']`` names and ``table``; write ``result`` as JSON to
    ``out`` (atomically: no half-written file) when given."""
    from scalenet_mm.engine.atomic_checkpoint import atomic_write
    machine = result['machine']
    print(f"machine: {machine['cpu']}, {machine['cpu_count']} cores"
          f"{', ' + machine['gpu'] if 'gpu' in machine else ''}")
    print(table)
    if out:
        atomic_write(out, json.dumps(result, indent=1))
        print(f'wrote {out}')
