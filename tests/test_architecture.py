"""The import contracts of docs/architecture.md (.importlinter), checked by import-linter."""
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = shutil.which('lint-imports', path=str(Path(sys.executable).parent))


@pytest.mark.skipif(LINT_IMPORTS is None, reason='import-linter is not installed (requirements/tests.txt)')
def test_import_contracts_are_kept() -> None:
    proc = subprocess.run([LINT_IMPORTS, '--config', str(REPO_ROOT / '.importlinter')],
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert ' broken' in proc.stdout and '0 broken' in proc.stdout
