"""The method layer is plain PyTorch: it imports nothing from OpenMMLab nor from the plugin's
other subpackages, and its public names are importable in a fresh interpreter that cannot see
mmengine, mmcv, mmpretrain or mmdet."""
import ast
import subprocess
import sys
from pathlib import Path

import method_import

FORBIDDEN = ('mmengine', 'mmcv', 'mmpretrain', 'mmdet')

# Runs in a child interpreter: a meta-path finder refuses every OpenMMLab module and the plugin's
# own ``__init__`` is blocked, then the method package is loaded through the helper (as in the
# torch-only job) and used once; any import of a sibling subpackage would fail or be listed.
CHILD = '''
import sys
FORBIDDEN = {forbidden!r}

class Refuse:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in FORBIDDEN:
            raise ImportError(f'layering: the method layer imported {{name}}')
        return None

sys.meta_path.insert(0, Refuse())
sys.modules['scalenet_mm'] = None  # the plugin's __init__ must not run: only the method loads
sys.path.insert(0, {helper_dir!r})
import method_import
from scalenet_mm.method import AdapterConfig, LayerInstance, SharedBlock, run_instances
import torch
blocks = [SharedBlock(16, 2, 32)]
inst = [LayerInstance(0, 16, 2, 32, adapter=AdapterConfig.from_spec(dict(type='lora', rank=2)),
                      window_size=2, rel_pos_hw=(2, 2))]
out = run_instances(torch.randn(1, 9, 16), blocks, inst, (3, 3))
assert out.shape == (1, 9, 16)
loaded = sorted(m for m in sys.modules if m.split('.')[0] in FORBIDDEN)
others = sorted(m for m in sys.modules
                if m.startswith('scalenet_mm.') and not m.startswith('scalenet_mm.method'))
print('LOADED', loaded, 'OTHERS', others)
'''


def test_method_runs_without_openmmlab_and_without_other_subpackages():
    helper_dir = str(Path(method_import.__file__).parent)
    code = CHILD.format(forbidden=FORBIDDEN, helper_dir=helper_dir)
    repo = Path(method_import.__file__).resolve().parents[2]
    proc = subprocess.run([sys.executable, '-c', code], cwd=repo, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert 'LOADED [] OTHERS []' in proc.stdout, proc.stdout


def test_method_sources_name_no_openmmlab_module():
    """A static check as well: no import statement of the method names OpenMMLab or a sibling
    layer (relative imports must stay inside the method package)."""
    bad = []
    for path in sorted(method_import.METHOD_DIR.glob('*.py')):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = ['.' * node.level + (node.module or '')]
            else:
                continue
            for name in names:
                if (name.split('.')[0] in FORBIDDEN or name.startswith('..')
                        or (name.startswith('scalenet_mm') and not name.startswith(
                            'scalenet_mm.method'))):
                    bad.append(f'{path.name}:{node.lineno}: {name}')
    assert bad == []
