"""experiments/det_evidence/canvas_pretrain.py: the canvases of the detection backbone's
pretraining (one garment at the detection scales anywhere on a noise canvas), written as IDX
files that mmpretrain's own reader and ``FashionMNIST`` dataset read; and the settings that
switch a seed's pretraining to them."""
import os
import os.path as osp
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
if REPO not in sys.path:
    sys.path.insert(0, REPO)

from experiments.det_evidence.canvas_pretrain import (PARAMS_FILE, garment_sides,  # noqa: E402
                                                      idx_bytes, render_canvases,
                                                      write_canvas_classification)
from experiments.det_evidence.plan import (PRETRAIN_KEYS, DetSettings,  # noqa: E402
                                           global_attention, pretrain_keys, pretrain_options)

THRESHOLD, BACKGROUND = 24, 12


def _garments(count: int, seed: int = 0):
    """Garment-like 28x28 images (a bright block on black, like Fashion-MNIST's) and labels."""
    rng = np.random.default_rng(seed)
    images = np.zeros((count, 28, 28), dtype=np.uint8)
    for k in range(count):
        top, left = rng.integers(0, 10, size=2)
        images[k, top:top + 18, left:left + 18] = rng.integers(60, 256, size=(18, 18))
    return images, rng.integers(0, 10, size=count).astype(np.uint8)


def _fake_fashion_mnist(folder: Path) -> str:
    """The four Fashion-MNIST IDX files in ``folder``, with Fashion-MNIST's counts (which the
    loader checks): 40 garment-like images repeated."""
    for prefix, count, seed in (('train', 60000, 0), ('t10k', 10000, 1)):
        images, labels = _garments(40, seed)
        reps = -(-count // 40)
        (folder / f'{prefix}-images-idx3-ubyte').write_bytes(
            idx_bytes(np.tile(images, (reps, 1, 1))[:count]))
        (folder / f'{prefix}-labels-idx1-ubyte').write_bytes(
            idx_bytes(np.tile(labels, reps)[:count]))
    return str(folder)


def test_idx_files_read_back_with_mmpretrains_reader(tmp_path: Path) -> None:
    from mmpretrain.datasets.mnist import read_image_file, read_label_file

    images, labels = _garments(5)
    canvas = np.arange(5 * 48 * 64, dtype=np.int64).reshape(5, 48, 64).astype(np.uint8)
    for name, array in (('i', images), ('l', labels), ('c', canvas)):
        (tmp_path / name).write_bytes(idx_bytes(array))
    assert np.array_equal(read_image_file(str(tmp_path / 'i')).numpy(), images)
    assert np.array_equal(read_label_file(str(tmp_path / 'l')).numpy(), labels)
    assert np.array_equal(read_image_file(str(tmp_path / 'c')).numpy(), canvas)
    with pytest.raises(ValueError, match='uint8'):
        idx_bytes(images.astype(np.float32))


def test_each_canvas_holds_its_garment_at_its_place_on_noise() -> None:
    from scalenet_mm.testing.fashion_mnist_det import render_garment

    images, labels = _garments(30)
    canvases, chosen, placements = render_canvases(
        images, labels, 50, 64, (1.0, 2.5), np.random.default_rng(3), THRESHOLD, BACKGROUND)
    assert canvases.shape == (50, 64, 64) and canvases.dtype == np.uint8
    low, high = garment_sides(64, (1.0, 2.5))
    assert (low, high) == (28, 64)
    # every garment used once before any is used twice
    assert sorted(placements[:30, 0]) == list(range(30))
    for canvas, label, (index, side, x, y) in zip(canvases, chosen, placements):
        assert label == labels[index]
        assert low <= side <= high and 0 <= x <= 64 - side and 0 <= y <= 64 - side
        pixels, mask = render_garment(images[index], int(side), THRESHOLD)
        window = canvas[y:y + side, x:x + side]
        assert np.array_equal(window[mask], pixels[mask])
        outside = np.ones_like(canvas, dtype=bool)
        outside[y:y + side, x:x + side] = ~mask
        assert canvas[outside].max() <= BACKGROUND  # the rest is background noise
    # several sizes and places, and the same generator state gives the same canvases
    assert len(set(placements[:, 1])) > 5 and len(set(placements[:, 2])) > 5
    again = render_canvases(images, labels, 50, 64, (1.0, 2.5), np.random.default_rng(3))
    assert np.array_equal(again[0], canvases) and np.array_equal(again[2], placements)
    with pytest.raises(ValueError, match='scale_range'):
        garment_sides(24, (1.0, 2.5))


def test_written_splits_are_fashion_mnist_for_mmpretrain_and_reused(tmp_path: Path) -> None:
    from mmpretrain.datasets import FashionMNIST

    source = tmp_path / 'fmnist'
    source.mkdir()
    _fake_fashion_mnist(source)
    root = str(tmp_path / 'canvas')
    assert write_canvas_classification(root, 32, (1.0, 1.1), 12, 6, seed=5,
                                       source_dirs=[str(source)]) == root
    train = FashionMNIST(data_root=root, test_mode=False, pipeline=[])
    test = FashionMNIST(data_root=root, test_mode=True, pipeline=[])
    assert (len(train), len(test)) == (12, 6)
    assert train[0]['img'].shape == (32, 32) and 0 <= int(train[0]['gt_label']) < 10
    # the same arguments reuse the files; others write them again
    stamps = {name: os.stat(osp.join(root, name)).st_mtime_ns for name in os.listdir(root)}
    write_canvas_classification(root, 32, (1.0, 1.1), 12, 6, seed=5, source_dirs=[str(source)])
    assert stamps == {name: os.stat(osp.join(root, name)).st_mtime_ns
                      for name in os.listdir(root)}
    first = (Path(root) / 'train-images-idx3-ubyte').read_bytes()
    write_canvas_classification(root, 32, (1.0, 1.1), 12, 6, seed=6, source_dirs=[str(source)])
    assert (Path(root) / 'train-images-idx3-ubyte').read_bytes() != first
    assert '"seed": 6' in (Path(root) / PARAMS_FILE).read_text()


def test_canvas_pretraining_builds_the_detectors_backbone_and_keeps_earlier_runs() -> None:
    import torch
    from mmengine.config import Config
    from mmpretrain.registry import MODELS

    import scalenet_mm  # noqa: F401  (registers ScaleNetViT)

    default = DetSettings()
    canvas = DetSettings(pretrain_input='canvas', pretrain_side=64)
    canvas.validate()
    options = pretrain_options(canvas, 0, 'root')
    assert options['model.backbone.window_size'] == canvas.window
    assert options['model.backbone.global_attn_indexes'] == global_attention(canvas.layers)
    cfg = Config.fromfile(osp.join(REPO, 'configs', 'cls', 'fashion_mnist',
                                   'vit_det_pretrain_fmnist.py'))
    cfg.merge_from_dict(options)
    classifier = MODELS.build(cfg.model)
    backbone = classifier.backbone
    assert backbone.cls_token is None and backbone.pos_embed.shape[1] == (64 // 8)**2
    windows = [instance.window_size for instance in backbone.instances]
    assert windows == [0 if i in global_attention(canvas.layers) else canvas.window
                       for i in range(canvas.layers)]
    assert classifier(torch.zeros(2, 1, 64, 64), mode='tensor').shape == (2, 10)
    # a canvas run depends on the window and the scales; the default's keys are unchanged
    assert pretrain_keys(default) == PRETRAIN_KEYS
    assert {'window', 'scale'} <= set(pretrain_keys(canvas))
    assert canvas.fingerprint(pretrain_keys(canvas)) != default.fingerprint(PRETRAIN_KEYS)
    older_keys = tuple(k for k in PRETRAIN_KEYS if k != 'pretrain_input')
    assert default.fingerprint(PRETRAIN_KEYS) == default.fingerprint(older_keys)
    with pytest.raises(ValueError, match='pretrain_side=40'):
        DetSettings(pretrain_input='canvas').validate()  # 40 is not a multiple of 8 * 4
    with pytest.raises(ValueError, match="pretrain_input='photo'"):
        DetSettings(pretrain_input='photo').validate()
