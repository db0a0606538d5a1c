"""The catalogue of bad inputs and the error each one gives the user.

One row per mistake a user can make, across configs, checkpoints, data, the environment and
the run itself. For every row the test checks:

1. the error type (the one a caller would catch: ``ValueError`` for bad values,
   ``FileNotFoundError`` for missing paths, ...);
2. that the message names the bad value and the fix (``mentions``, all required);
3. that nothing was lost or half-written: every file of the row's scratch folder (inputs,
   work dir, checkpoint cache) has exactly the same bytes afterwards, and no file appeared.

| row | input | error |
|---|---|---|
| config-layer-map-range | ``layer_map=[0, 1, 2, 1]`` with 2 layers | ValueError |
| config-layer-map-name | ``layer_map='zigzag'`` | ValueError |
| config-depth | ``depth=1`` < 2 pretrained layers | ValueError |
| config-adapter-type | ``adapter=dict(type='prefix')`` | ValueError |
| config-adapter-rank | ``adapter=dict(type='lora', rank=0)`` | ValueError |
| config-arch | ``arch='deit-huge'`` | ValueError |
| config-out-indices | ``out_indices=[7]`` with 4 instances | ValueError |
| config-window-cls | ``window_size=2`` with a class token | ValueError |
| config-global-indices | ``global_attn_indexes=[9]`` with 4 instances | ValueError |
| ckpt-wrong-arch | a 48-wide ViT checkpoint into a 32-wide model | CheckpointMismatchError |
| ckpt-truncated | half of a checkpoint file | CheckpointFormatError |
| ckpt-not-a-checkpoint | a text file | CheckpointFormatError |
| ckpt-tampered-download | bytes that fail the sha256 in the URL's name | DownloadError |
| ckpt-pickle-with-code | a download whose unpickling would run code | UnsafeCheckpointError |
| resume-missing | ``--resume`` of a file that does not exist | FileNotFoundError |
| data-missing-root | ``data_root`` that does not exist | FileNotFoundError |
| data-empty-ann-file | an empty ``ann_file`` | ValueError |
| data-corrupt-image | an undecodable image in the training set | ValueError |
| env-mmcv-without-ops | ``mmcv._ext`` not importable (subprocess) | ImportError |
| run-disk-full | ENOSPC while a checkpoint is written | OSError |
| run-nonfinite-action | ``NonFiniteLossHook(action='ignore')`` | ValueError |
"""
import errno
import hashlib
import http.server
import io
import json
import os
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Callable, Dict, Iterator, Tuple, Type

import pytest
import torch
from mmengine.config import Config
from mmpretrain.registry import DATASETS, MODELS

import scalenet_mm  # noqa: F401  (registers everything)
from scalenet_mm.checkpoint import (CheckpointFormatError, CheckpointMismatchError,
                                    DownloadError, UnsafeCheckpointError, download_checkpoint,
                                    load_pretrained)
from scalenet_mm.datasets import check_data_roots
from scalenet_mm.engine import atomic_checkpoint
from scalenet_mm.engine.hooks import NonFiniteLossHook
from scalenet_mm.runtime import set_resume

ARCH = dict(embed_dims=32, num_layers=2, num_heads=2, feedforward_channels=64)
BACKBONE = dict(type='ScaleNetViT', arch=ARCH, img_size=32, patch_size=8, depth=4)


# ----------------------------------------------------------------------------- helpers
class FileServer:
    """Serves ``files[path] = bytes`` over HTTP on 127.0.0.1 (a stand-in for a model host)."""

    def __init__(self) -> None:
        self.files: Dict[str, bytes] = {}
        files = self.files

        class Handler(http.server.BaseHTTPRequestHandler):

            def do_GET(self) -> None:  # noqa: N802 (http.server API)
                data = files.get(self.path)
                if data is None:
                    self.send_error(404, 'not found')
                    return
                self.send_response(200)
                self.send_header('Content-Length', str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(('127.0.0.1', 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever,
                                       kwargs=dict(poll_interval=0.1), daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f'http://127.0.0.1:{self.httpd.server_address[1]}{path}'

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


def serialized(obj: Any) -> bytes:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


def build(registry: Any, cfg: dict) -> Any:
    """Build ``cfg`` as a config of ``registry``'s codebase is built (in its default scope)."""
    with registry.switch_scope_and_registry(registry.scope) as scoped:
        return scoped.build(cfg)


def backbone(**kwargs: Any) -> torch.nn.Module:
    return build(MODELS, dict(BACKBONE, **kwargs))


def snapshot(root: Path) -> Dict[str, str]:
    """``{relative path: sha256}`` of every file under ``root`` (hidden ones included)."""
    result = {}
    for path in sorted(root.rglob('*')):
        if path.is_file():
            result[str(path.relative_to(root))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return result


def write_folder_dataset(root: Path) -> None:
    """A 2-class ImageFolder layout with valid 8x8 PNGs."""
    import cv2
    import numpy as np
    for cls in ('a', 'b'):
        (root / 'train' / cls).mkdir(parents=True)
        for n in range(2):
            img = np.full((8, 8, 3), 40 * n + (100 if cls == 'a' else 0), np.uint8)
            assert cv2.imwrite(str(root / 'train' / cls / f'{n}.png'), img)


def dataset_cfg(data_root: Path, **kwargs: Any) -> Config:
    return Config(dict(default_scope='mmpretrain', train_dataloader=dict(dataset=dict(
        type='CustomDataset', data_root=str(data_root), data_prefix='train',
        pipeline=[dict(type='CheckedLoadImageFromFile'), dict(type='PackInputs')], **kwargs))))


# ----------------------------------------------------------------------------- the rows
@dataclass(frozen=True)
class Case:
    """A bad input: ``prepare`` writes it into the scratch folder, ``trigger`` uses it the
    way the project would; ``mentions`` (formatted with the context) must all be in the
    message."""
    id: str
    trigger: Callable[[SimpleNamespace], Any]
    error: Type[BaseException]
    mentions: Tuple[str, ...]
    prepare: Callable[[SimpleNamespace], None] = field(default=lambda ctx: None)


def prep_wrong_arch(ctx: SimpleNamespace) -> None:
    other = backbone(arch=dict(ARCH, embed_dims=48))
    torch.save({'state_dict': other.state_dict()}, ctx.tmp / 'vit48.pth')


def prep_truncated(ctx: SimpleNamespace) -> None:
    data = serialized({'state_dict': backbone().state_dict()})
    (ctx.tmp / 'cut.pth').write_bytes(data[:len(data) // 2])


def prep_text_file(ctx: SimpleNamespace) -> None:
    (ctx.tmp / 'weights.pth').write_text('<html>Sign in to download</html>')


def prep_tampered(ctx: SimpleNamespace) -> None:
    good = serialized({'state_dict': {'w': torch.zeros(2)}})
    digest = hashlib.sha256(good).hexdigest()[:8]
    ctx.url = ctx.server.url(f'/vit-{digest}.pth')
    ctx.server.files[f'/vit-{digest}.pth'] = serialized({'state_dict': {'w': torch.ones(2)}})


class CodeRunner:
    """Unpickling this object runs code (creates ``marker``)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> Any:
        return (exec, (f'open({str(self.marker)!r}, "w").write("ran")', ))


def prep_pickle_with_code(ctx: SimpleNamespace) -> None:
    (ctx.tmp / 'outside').mkdir()
    ctx.marker = ctx.tmp / 'outside' / 'code_ran'
    ctx.url = ctx.server.url('/evil.pth')
    ctx.server.files['/evil.pth'] = serialized({'state_dict': {}, 'x': CodeRunner(ctx.marker)})


def trigger_pickle_with_code(ctx: SimpleNamespace) -> None:
    try:
        download_checkpoint(ctx.url, model_dir=str(ctx.hub))
    finally:
        assert not ctx.marker.exists(), 'unpickling ran code'


def prep_folder_dataset(ctx: SimpleNamespace) -> None:
    write_folder_dataset(ctx.tmp / 'data')


def prep_empty_ann(ctx: SimpleNamespace) -> None:
    write_folder_dataset(ctx.tmp / 'data')
    (ctx.tmp / 'data' / 'meta').mkdir()
    (ctx.tmp / 'data' / 'meta' / 'train.txt').write_text('')


def prep_corrupt_image(ctx: SimpleNamespace) -> None:
    write_folder_dataset(ctx.tmp / 'data')
    (ctx.tmp / 'data' / 'train' / 'b' / '1.png').write_bytes(b'\x89PNG\r\n\x1a\n garbage')


def trigger_corrupt_image(ctx: SimpleNamespace) -> None:
    dataset = build(DATASETS, dataset_cfg(ctx.tmp / 'data').train_dataloader.dataset)
    for index in range(len(dataset)):  # what the training data loader does
        dataset[index]


#: Runs in a fresh interpreter where ``mmcv._ext`` cannot be imported (mmcv without ops).
NO_OPS_SCRIPT = r'''
import importlib.abc, json, sys
class NoOps(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == 'mmcv._ext':
            raise ModuleNotFoundError("No module named 'mmcv._ext'", name=name)
sys.meta_path.insert(0, NoOps())
import scalenet_mm  # classification needs no ops: the package itself must import
from scalenet_mm.engine.env_check import check_mmcv_ops
try:
    check_mmcv_ops()
    print(json.dumps(None))
except Exception as err:
    print(json.dumps([type(err).__name__, isinstance(err, ImportError), str(err)]))
'''


def trigger_mmcv_without_ops(ctx: SimpleNamespace) -> None:
    from scalenet_mm.engine import env_check
    env = dict(os.environ, OMP_NUM_THREADS='1')
    proc = subprocess.run([sys.executable, '-c', NO_OPS_SCRIPT], cwd=ctx.tmp, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result is not None, 'check_mmcv_ops() passed without mmcv._ext'
    name, is_import_error, message = result
    assert is_import_error
    raise getattr(env_check, name)(message)


def trigger_disk_full(ctx: SimpleNamespace) -> None:
    def no_space(file: Any, data: bytes) -> None:
        file.write(data[:10])
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    from scalenet_mm.runtime import installed
    real = atomic_checkpoint._write_all
    atomic_checkpoint._write_all = no_space
    try:
        from mmengine.runner import save_checkpoint
        with installed():  # mmengine's own saves are atomic while the fixes are on
            save_checkpoint({'state_dict': {'w': torch.zeros(4)}},
                            str(ctx.tmp / 'work/iter_4.pth'))
    finally:
        atomic_checkpoint._write_all = real


def prep_work_dir(ctx: SimpleNamespace) -> None:
    (ctx.tmp / 'work').mkdir()
    torch.save({'state_dict': {'w': torch.ones(4)}}, ctx.tmp / 'work' / 'iter_2.pth')
    (ctx.tmp / 'work' / 'last_checkpoint').write_text(str(ctx.tmp / 'work' / 'iter_2.pth'))


CASES = [
    # ------------------------------------------------------------------ configs
    Case('config-layer-map-range', lambda ctx: backbone(layer_map=[0, 1, 2, 1]), ValueError,
         ('layer_map[2]=2', 'must be integers in [0, 1]')),
    Case('config-layer-map-name', lambda ctx: backbone(layer_map='zigzag'), ValueError,
         ("layer_map='zigzag'", "use one of ('cyclic', 'interleave')")),
    Case('config-depth', lambda ctx: backbone(depth=1), ValueError,
         ('depth=1', 'depth must be >= 2')),
    Case('config-adapter-type', lambda ctx: backbone(adapter=dict(type='prefix')), ValueError,
         ("type='prefix'", "allowed: ('lora', 'bottleneck')")),
    Case('config-adapter-rank', lambda ctx: backbone(adapter=dict(type='lora', rank=0)),
         ValueError, ('rank=0', 'positive integer')),
    Case('config-arch', lambda ctx: backbone(arch='deit-huge'), ValueError,
         ("arch='deit-huge'", "'deit-tiny'", 'or a dict with keys')),
    Case('config-out-indices', lambda ctx: backbone(out_indices=[7]), ValueError,
         ('out_indices contains 7', 'integers in [-4, 3]')),
    Case('config-window-cls', lambda ctx: backbone(window_size=2), ValueError,
         ('window_size=2', 'with_cls_token=False')),
    Case('config-global-indices',
         lambda ctx: backbone(window_size=2, with_cls_token=False, out_type='featmap',
                              global_attn_indexes=[9]),
         ValueError, ('global_attn_indexes contains 9', 'integers in [-4, 3]')),
    # ------------------------------------------------------------------ checkpoints
    Case('ckpt-wrong-arch', lambda ctx: load_pretrained(backbone(), str(ctx.tmp / 'vit48.pth')),
         CheckpointMismatchError, ('{tmp}/vit48.pth', '48'), prep_wrong_arch),
    Case('ckpt-truncated', lambda ctx: load_pretrained(backbone(), str(ctx.tmp / 'cut.pth')),
         CheckpointFormatError, ('{tmp}/cut.pth', 'truncated', 'save it again'), prep_truncated),
    Case('ckpt-not-a-checkpoint',
         lambda ctx: load_pretrained(backbone(), str(ctx.tmp / 'weights.pth')),
         CheckpointFormatError, ('{tmp}/weights.pth', 'not a PyTorch checkpoint', 'torch.save'),
         prep_text_file),
    Case('ckpt-tampered-download',
         lambda ctx: download_checkpoint(ctx.url, model_dir=str(ctx.hub)), DownloadError,
         ('{url}', 'fails its hash check', 'was deleted', 'pass the local path'),
         prep_tampered),
    Case('ckpt-pickle-with-code', trigger_pickle_with_code, UnsafeCheckpointError,
         ('{url}', 'refused to unpickle', 'builtins.exec', 'Only weights-only files'),
         prep_pickle_with_code),
    Case('resume-missing', lambda ctx: set_resume(Config(), str(ctx.tmp / 'iter_9.pth')),
         FileNotFoundError, ('{tmp}/iter_9.pth', '--resume without a value')),
    # ------------------------------------------------------------------ data
    Case('data-missing-root', lambda ctx: check_data_roots(dataset_cfg(ctx.tmp / 'nowhere')),
         FileNotFoundError,
         ("train_dataloader.dataset.data_root='{tmp}/nowhere'", '--cfg-options')),
    Case('data-empty-ann-file',
         lambda ctx: check_data_roots(dataset_cfg(ctx.tmp / 'data', ann_file='meta/train.txt')),
         ValueError, ("ann_file='meta/train.txt'", '{tmp}/data/meta/train.txt', 'is empty',
                      'one sample per line'), prep_empty_ann),
    Case('data-corrupt-image', trigger_corrupt_image, ValueError,
         ('{tmp}/data/train/b/1.png', 'cannot be decoded', 'Replace or delete'),
         prep_corrupt_image),
    # ------------------------------------------------------------------ environment
    Case('env-mmcv-without-ops', trigger_mmcv_without_ops, ImportError,
         ("No module named 'mmcv._ext'", 'bash tools/setup_env.sh --rebuild-mmcv')),
    # ------------------------------------------------------------------ the run
    Case('run-disk-full', trigger_disk_full, OSError,
         ('{tmp}/work/iter_4.pth', 'is full', 'Free space', '--resume'), prep_work_dir),
    Case('run-nonfinite-action', lambda ctx: NonFiniteLossHook(action='ignore'), ValueError,
         ("action='ignore'", "('raise', 'skip')")),
]


@pytest.fixture(scope='module')
def server() -> Iterator[FileServer]:
    server = FileServer()
    try:
        yield server
    finally:
        server.close()


def test_catalogue_is_large_and_ids_unique():
    assert len(CASES) >= 15
    assert len({case.id for case in CASES}) == len(CASES)


@pytest.mark.parametrize('case', CASES, ids=[case.id for case in CASES])
def test_bad_input_gives_a_clear_error_and_loses_nothing(case: Case, tmp_path: Path,
                                                        server: FileServer):
    ctx = SimpleNamespace(tmp=tmp_path, hub=tmp_path / 'hub', server=server, url='')
    case.prepare(ctx)
    before = snapshot(tmp_path)
    with pytest.raises(case.error) as info:
        case.trigger(ctx)
    message = str(info.value)
    for text in case.mentions:
        assert text.format(tmp=tmp_path, url=ctx.url) in message, message
    assert snapshot(tmp_path) == before, 'files changed, appeared or were left half-written'


def test_mmpretrain_and_mmdet_pipelines_build_the_clear_image_loader_by_its_name():
    from mmcv.transforms import LoadImageFromFile
    from mmdet.registry import TRANSFORMS as DET_TRANSFORMS
    from mmpretrain.registry import TRANSFORMS as PRETRAIN_TRANSFORMS

    from scalenet_mm.datasets.image_loading import CheckedLoadImageFromFile
    for registry in (PRETRAIN_TRANSFORMS, DET_TRANSFORMS):
        assert type(build(registry, dict(type='CheckedLoadImageFromFile'))) \
            is CheckedLoadImageFromFile
        # mmcv's own loader keeps its name (configs that ask for it get mmcv's)
        assert type(build(registry, dict(type='LoadImageFromFile'))) is LoadImageFromFile
