"""A real ImageNet config trains and tests through tools/train.py and tools/test.py.

The test writes a tiny stand-in for ImageNet in mmpretrain's layout
(``train/<wnid>/*.JPEG``, ``val/*.JPEG``, ``meta/{train,val}.txt``), then runs
``configs/cls/scalenet_t2x_in1k.py`` (the real DeiT-Tiny arch, 24 instances, DeiT augments,
Mixup/CutMix, AdamW with clipping) with command-line overrides only: 32x32 crops, small
batches, no pretrained download, one epoch.
"""
import json
from pathlib import Path
from typing import List

import cv2
import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / 'configs' / 'cls' / 'scalenet_t2x_in1k.py'
WNIDS = ('n01440764', 'n01443537', 'n01484850')
TRAIN_PER_CLASS = 4
VAL_PER_CLASS = 2


@pytest.fixture(scope='module')
def tiny_imagenet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """3 classes x 4 train / 2 val JPEGs of 48x40 pixels with ImageNet's file layout."""
    root = tmp_path_factory.mktemp('imagenet')
    rng = np.random.default_rng(0)
    (root / 'meta').mkdir()
    (root / 'val').mkdir()
    train_lines, val_lines = [], []
    for label, wnid in enumerate(WNIDS):
        (root / 'train' / wnid).mkdir(parents=True)
        for n in range(TRAIN_PER_CLASS):
            name = f'{wnid}/{wnid}_{n}.JPEG'
            img = rng.integers(0, 255, (40, 48, 3), dtype=np.uint8)
            assert cv2.imwrite(str(root / 'train' / name), img)
            train_lines.append(f'{name} {label}')
        for n in range(VAL_PER_CLASS):
            name = f'ILSVRC2012_val_{label * VAL_PER_CLASS + n:08d}.JPEG'
            img = rng.integers(0, 255, (40, 48, 3), dtype=np.uint8)
            assert cv2.imwrite(str(root / 'val' / name), img)
            val_lines.append(f'{name} {label}')
    (root / 'meta' / 'train.txt').write_text('\n'.join(train_lines) + '\n')
    (root / 'meta' / 'val.txt').write_text('\n'.join(val_lines) + '\n')
    return root


def tiny_options(data_root: Path) -> List[str]:
    """Command-line overrides that shrink the run but keep the config's recipe."""
    options = ['model.backbone.img_size=32', 'model.backbone.init_cfg=None',
               'train_dataloader.dataset.pipeline.1.scale=32',
               'default_hooks.logger.interval=1', 'train_cfg.max_epochs=1',
               # the 5 warm-up epochs shrink to half of the single epoch
               'param_scheduler.0.end=0.5', 'param_scheduler.1.begin=0.5']
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        options += [f'{key}.dataset.data_root={data_root}', f'{key}.batch_size=4',
                    f'{key}.num_workers=0', f'{key}.persistent_workers=False']
    for key in ('val_dataloader', 'test_dataloader'):
        options += [f'{key}.dataset.pipeline.1.scale=36',
                    f'{key}.dataset.pipeline.2.crop_size=32']
    return options


def test_imagenet_config_trains_and_tests(tmp_path: Path, tiny_imagenet: Path, run_tool) -> None:
    work_dir = tmp_path / 'work'
    proc = run_tool(['tools/train.py', CONFIG, '--work-dir', work_dir, '--auto-scale-lr',
                     '--cfg-options', *tiny_options(tiny_imagenet)], timeout=600)
    log = proc.stdout
    # 12 training images in batches of 4: three iterations, then validation.
    assert 'Epoch(train) [1][3/3]' in log
    assert 'accuracy/top1' in log
    # --auto-scale-lr: 1e-3 for a batch of 1024 becomes 1e-3 * 4 / 1024.
    assert 'Scaling the original LR by 0.00390625' in log
    checkpoint = work_dir / 'epoch_1.pth'
    assert checkpoint.is_file()
    losses = [float(line.split('loss: ')[1].split()[0]) for line in log.splitlines()
              if 'Epoch(train)' in line and 'loss: ' in line]
    assert len(losses) == 3 and all(np.isfinite(losses))

    test_dir = tmp_path / 'test'
    run_tool(['tools/test.py', CONFIG, checkpoint, '--work-dir', test_dir,
              '--trust-checkpoint', checkpoint, '--cfg-options', *tiny_options(tiny_imagenet)], timeout=600)
    records = [json.loads(line) for path in test_dir.glob('*/*.json')
               for line in path.read_text().splitlines()]
    metrics = next(r for r in records if 'accuracy/top1' in r)
    assert 0.0 <= metrics['accuracy/top1'] <= 100.0
    assert 0.0 <= metrics['accuracy/top5'] <= 100.0


@pytest.mark.slow
def test_imagenet_config_trains_with_two_processes(tmp_path: Path, tiny_imagenet: Path,
                                                   run_tool, unused_port: int) -> None:
    """``tools/dist_train.sh CONFIG 2`` (CPU: gloo) runs the same config."""
    work_dir = tmp_path / 'work'
    proc = run_tool(['bash', 'tools/dist_train.sh', CONFIG, '2', '--work-dir', work_dir,
                     '--cfg-options', *tiny_options(tiny_imagenet),
                     'train_dataloader.batch_size=2'],
                    env=dict(PORT=str(unused_port)), timeout=600)
    assert 'Epoch(train) [1][3/3]' in proc.stdout
    assert (work_dir / 'epoch_1.pth').is_file()


def test_unreachable_pretrained_url_stops_before_training(tmp_path: Path, tiny_imagenet: Path,
                                                          run_tool, unused_port: int) -> None:
    """A ScaleNet config whose pretrained URL cannot be reached fails naming the URL."""
    url = f'http://127.0.0.1:{unused_port}/deit_tiny_patch16_224-0badc0de.pth'
    work_dir = tmp_path / 'work'
    options = [o for o in tiny_options(tiny_imagenet) if not o.startswith('model.backbone.init')]
    proc = run_tool(['tools/train.py', CONFIG, '--work-dir', work_dir, '--cfg-options',
                     *options, f'model.backbone.init_cfg.checkpoint={url}'],
                    check=False, timeout=600, env=dict(TORCH_HOME=str(tmp_path / 'hub')))
    assert proc.returncode != 0
    assert f'cannot reach {url}' in proc.stdout
    assert 'Epoch(train)' not in proc.stdout
    assert not list(work_dir.rglob('*.pth'))
