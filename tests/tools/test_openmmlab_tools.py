"""mmpretrain's own analysis tools, as a user runs them on our configs and work dirs:
browse_dataset (a config inheriting our default runtime), analyze_logs plot_curve and
confusion_matrix (a work dir and checkpoint written by tools/train.py)."""
import pickle
import struct
from pathlib import Path

import cv2
import numpy as np
import pytest

pytestmark = pytest.mark.slow


def _mmpretrain_tool(name: str) -> Path:
    """A tool of mmpretrain's own (shipped in its wheel under mmpretrain/.mim/tools)."""
    import mmpretrain
    return Path(mmpretrain.__file__).parent / '.mim' / 'tools' / name


def _write_fashion_mnist(root: Path, train: int = 6, test: int = 4) -> Path:
    """Four IDX files in Fashion-MNIST's layout (random 28x28 images), as mmpretrain reads them."""
    rng = np.random.default_rng(0)
    root.mkdir(parents=True)
    for prefix, count in (('train', train), ('t10k', test)):
        images = rng.integers(0, 256, size=count * 28 * 28, dtype=np.uint8).tobytes()
        labels = bytes(int(v) for v in rng.integers(0, 10, size=count))
        (root / f'{prefix}-images-idx3-ubyte').write_bytes(
            struct.pack('>IIII', 2051, count, 28, 28) + images)
        (root / f'{prefix}-labels-idx1-ubyte').write_bytes(struct.pack('>II', 2049, count) + labels)
    return root


def test_browse_dataset_on_our_config(tmp_path: Path, repo_root: Path, run_tool) -> None:
    """Our configs inherit mmpretrain's runtime through `mmpretrain::`, whose dicts mmengine
    marks with `_scope_`; mmpretrain's browse_dataset must still build the visualizer."""
    data_root = _write_fashion_mnist(tmp_path / 'fmnist')
    out_dir = tmp_path / 'browse'
    run_tool([_mmpretrain_tool('visualization/browse_dataset.py'),
              repo_root / 'configs/cls/fashion_mnist/vit_L4_fmnist.py', '-o', out_dir, '-n', '2',
              '-m', 'original', '--cfg-options', f'train_dataloader.dataset.data_root={data_root}'],
             timeout=300)
    drawn = sorted(out_dir.iterdir())
    assert len(drawn) == 2 and cv2.imread(str(drawn[0])) is not None


def test_analyze_logs_plots_our_training_log(trained_tiny_cls: Path, tmp_path: Path,
                                             run_tool) -> None:
    (scalars, ) = trained_tiny_cls.glob('*/vis_data/scalars.json')
    out = tmp_path / 'curve.png'
    run_tool([_mmpretrain_tool('analysis_tools/analyze_logs.py'), 'plot_curve', scalars,
              '--keys', 'loss', '--out', out], env={'MPLBACKEND': 'Agg'}, timeout=300)
    image = cv2.imread(str(out))
    assert image is not None and image.shape[0] > 100


def test_confusion_matrix_of_our_checkpoint(trained_tiny_cls: Path, tiny_cls_config: Path,
                                            tmp_path: Path, run_tool) -> None:
    """A Runner checkpoint holds non-tensor objects; outside tools/train.py's own work dir it is
    unpickled only when the user trusts it, here through the documented environment variable."""
    checkpoint = trained_tiny_cls / 'iter_4.pth'
    out = tmp_path / 'cm.pkl'
    run_tool([_mmpretrain_tool('analysis_tools/confusion_matrix.py'), tiny_cls_config,
              checkpoint, '--out', out], env={'SCALENET_MM_TRUSTED_CHECKPOINTS': str(checkpoint)},
             timeout=300)
    with open(out, 'rb') as f:
        matrix = pickle.load(f)
    assert tuple(matrix.shape) == (5, 5)
    assert int(matrix.sum()) == 10  # every val image counted once (2 per class)
