"""Verified downloads through the real mmengine paths, from a local HTTP server on 127.0.0.1.

The verified loaders are mmengine's remote schemes while ``scalenet_mm.runtime.install()`` is
active (every test here runs inside ``installed()``; one checks they are not without it).
Every refusal case checks three things: a clear error naming the URL, a clean cache (no
partial or rejected file left) and, for pickles, that no code ran.
"""
from pathlib import Path
from typing import Any, Iterator

import pytest
import torch
from mmengine.runner import load_checkpoint
from mmengine.runner.checkpoint import CheckpointLoader

from ckpt_helpers import (FileServer, images, listing, max_diff, scalenet, serialize, sha_name,
                          timm_small_vit)
from scalenet_mm.checkpoint import (CheckpointFormatError, DownloadError,
                                    UnsafeCheckpointError, load_from_http_verified)
from scalenet_mm.runtime import installed


@pytest.fixture(autouse=True)
def verified_downloads() -> Iterator[None]:
    with installed(atomic_writes=False, trusted_resume=False):
        yield


def test_verified_loader_is_opt_in() -> None:
    assert CheckpointLoader._get_checkpoint_loader('https://x/a.pth') is load_from_http_verified
    with installed():
        pass  # nested: leaves the outer state as it was
    assert CheckpointLoader._get_checkpoint_loader('https://x/a.pth') is load_from_http_verified
    from scalenet_mm.runtime import uninstall
    uninstall()  # (the fixture restores the installed state afterwards)
    assert CheckpointLoader._get_checkpoint_loader('https://x/a.pth') is not \
        load_from_http_verified


def _official_bytes(seed: int = 0) -> bytes:
    return serialize({'model': timm_small_vit(seed=seed).state_dict()})


def test_init_cfg_url_is_fetched_once_then_cached(file_server: FileServer, hub_dir: Path) -> None:
    """``init_cfg=dict(type='Pretrained', checkpoint=URL)``: downloaded once, hash checked,
    loaded; a second model is served from the cache without a request."""
    data = _official_bytes()
    name = sha_name('small_vit', data)
    file_server.files[f'/w/{name}'] = data
    url = file_server.url(f'/w/{name}')
    ref = timm_small_vit()
    for _ in range(2):
        model = scalenet(depth=2.0, init_cfg=dict(type='Pretrained', checkpoint=url))
        model.init_weights()
        with torch.no_grad():
            tokens = ref._pos_embed(ref.patch_embed(images()))
            for block in list(ref.blocks) * 2:
                tokens = block(tokens)
            assert max_diff(model(images())[0], ref.norm(tokens)) < 1e-5
    assert file_server.hits == {f'/w/{name}': 1}
    assert listing(hub_dir) == [name]


def test_mmengine_load_checkpoint_goes_through_the_verified_loader(
        file_server: FileServer, hub_dir: Path) -> None:
    """mmengine's own ``load_checkpoint`` / ``CheckpointLoader`` use the verified scheme."""
    model = scalenet(depth=1.0, adapter=None)
    data = serialize({'state_dict': model.state_dict(), 'meta': {'epoch': 1}})
    file_server.files['/m/plain.pth'] = data  # no hash in the name: no hash check
    url = file_server.url('/m/plain.pth')
    raw = CheckpointLoader.load_checkpoint(url)
    assert raw['meta'] == {'epoch': 1}
    other = scalenet(depth=1.0, adapter=None)
    load_checkpoint(other, url, strict=True)
    assert torch.equal(other.layers[1].attn.qkv.weight, model.layers[1].attn.qkv.weight)
    assert file_server.hits == {'/m/plain.pth': 1}
    assert listing(hub_dir) == ['plain.pth']


def _refused(url: str, hub_dir: Path, error: Any, match: str) -> None:
    with pytest.raises(error, match=match) as info:
        CheckpointLoader.load_checkpoint(url)
    assert url in str(info.value)
    assert listing(hub_dir) == [], 'a refused download left files in the cache'


def test_tampered_file_is_refused(file_server: FileServer, hub_dir: Path) -> None:
    good = _official_bytes()
    name = sha_name('small_vit', good)
    file_server.files[f'/{name}'] = _official_bytes(seed=1)  # other bytes, same name
    url = file_server.url(f'/{name}')
    _refused(url, hub_dir, DownloadError, r'fails its hash check.*tampered')
    # and through init_cfg, the path users take
    model = scalenet(depth=2.0, init_cfg=dict(type='Pretrained', checkpoint=url))
    with pytest.raises(DownloadError, match='hash check'):
        model.init_weights()
    assert listing(hub_dir) == []


def test_truncated_transfer_is_refused(file_server: FileServer, hub_dir: Path) -> None:
    """torch's download does not compare Content-Length: a cut transfer is caught by the
    weights-only load (no hash in the name) or by the hash check (hash in the name)."""
    data = _official_bytes()
    file_server.files['/cut.pth'] = data
    file_server.truncate['/cut.pth'] = len(data) // 3
    _refused(file_server.url('/cut.pth'), hub_dir, CheckpointFormatError,
             rf'truncated.*{len(data) // 3} bytes were received.*retry the download')
    name = sha_name('small_vit', data)
    file_server.files[f'/{name}'] = data
    file_server.truncate[f'/{name}'] = len(data) // 2
    _refused(file_server.url(f'/{name}'), hub_dir, DownloadError, 'fails its hash check')


def test_pickle_that_would_run_code_is_refused(file_server: FileServer, hub_dir: Path,
                                               tmp_path: Path) -> None:
    marker = tmp_path / 'code_ran'

    class Payload:

        def __reduce__(self) -> Any:
            return (exec, (f'open({str(marker)!r}, "w").write("pwned")', ))

    data = serialize({'state_dict': {'w': torch.zeros(1)}, 'payload': Payload()})
    name = sha_name('evil', data)  # a correct hash: integrity is not safety
    file_server.files[f'/{name}'] = data
    _refused(file_server.url(f'/{name}'), hub_dir, UnsafeCheckpointError,
             r'refused to unpickle .*builtins\.exec')
    assert not marker.exists(), 'the pickle ran code'
    # the payload is live: a plain torch.load would have run it (the test can fail)
    evil = tmp_path / 'evil.pth'
    evil.write_bytes(data)
    torch.load(evil, weights_only=False)
    assert marker.read_text() == 'pwned'


@pytest.mark.filterwarnings('ignore:Detected pickle protocol:UserWarning')
def test_raw_pickle_and_non_checkpoint_are_refused(file_server: FileServer,
                                                   hub_dir: Path) -> None:
    import pickle
    file_server.files['/raw.pth'] = pickle.dumps({'x': print})
    _refused(file_server.url('/raw.pth'), hub_dir, UnsafeCheckpointError, 'refused to unpickle')
    file_server.files['/page.pth'] = b'<html><body>Sign in to download</body></html>'
    _refused(file_server.url('/page.pth'), hub_dir, CheckpointFormatError,
             'is not a PyTorch checkpoint')


def test_http_error_and_unreachable_url(file_server: FileServer, hub_dir: Path) -> None:
    _refused(file_server.url('/missing.pth'), hub_dir, DownloadError, 'HTTP 404')
    import socket
    with socket.socket() as sock:  # a port with nothing listening
        sock.bind(('127.0.0.1', 0))
        port = sock.getsockname()[1]
    _refused(f'http://127.0.0.1:{port}/model.pth', hub_dir, DownloadError, 'cannot reach')


def test_corrupted_cache_entry_is_reported(file_server: FileServer, hub_dir: Path) -> None:
    data = _official_bytes()
    name = sha_name('small_vit', data)
    hub_dir.mkdir(parents=True)
    (hub_dir / name).write_bytes(data[:100])
    with pytest.raises(DownloadError, match=rf'cached file .*{name}.*delete it'):
        CheckpointLoader.load_checkpoint(file_server.url(f'/{name}'))
    assert file_server.hits == {}


def test_openmmlab_scheme_uses_the_verified_path(file_server: FileServer, hub_dir: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """``open-mmlab://`` names resolve to URLs that take the same verified path."""
    import mmengine.runner.checkpoint as mm_ckpt
    data = serialize({'state_dict': {'w': torch.ones(2)}})
    name = sha_name('resnet', data)
    file_server.files[f'/{name}'] = data
    monkeypatch.setattr(mm_ckpt, 'get_external_models',
                        lambda: {'tiny_net': file_server.url(f'/{name}')})
    raw = CheckpointLoader.load_checkpoint('open-mmlab://tiny_net')
    assert torch.equal(raw['state_dict']['w'], torch.ones(2))
    assert listing(hub_dir) == [name]
