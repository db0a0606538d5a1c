"""Command-line checks shared by the benchmark scripts (``benchmarks/*.py``)."""
import argparse
import os


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
