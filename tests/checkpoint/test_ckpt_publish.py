"""Publish round trip: a Runner-style checkpoint -> weights + plain meta with the sha256 prefix
in its name -> served over HTTP -> loaded by a model through init_cfg (hash verified)."""
import hashlib
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.logging import HistoryBuffer

from ckpt_helpers import FileServer, images, listing, randomize_, scalenet
from scalenet_mm.checkpoint import UnsafeCheckpointError, publish_checkpoint
from scalenet_mm.checkpoint.publish import load_published


def _runner_checkpoint(path: Path) -> torch.nn.Module:
    """Save what mmengine's Runner saves: weights, optimizer state, message hub, numpy meta."""
    model = randomize_(scalenet(depth=2.0, adapter=dict(type='lora', rank=2)))
    optimizer = torch.optim.AdamW(model.parameters())
    model(images()).__getitem__(0).sum().backward()
    optimizer.step()
    torch.save({
        'meta': {'epoch': 3, 'iter': 30, 'seed': np.int64(7), 'cfg': 'model = dict(...)',
                 'dataset_meta': {'classes': ('a', 'b')}, 'lr': np.float32(0.5)},
        'state_dict': model.state_dict(),
        'optimizer': optimizer.state_dict(),
        'message_hub': {'log_scalars': {'loss': HistoryBuffer([1.0, 0.5], [1, 1])}},
        'param_schedulers': [{'last_epoch': 3}],
    }, path)
    return model


def test_publish_round_trip(tmp_path: Path, file_server: FileServer, hub_dir: Path) -> None:
    src = tmp_path / 'work' / 'epoch_3.pth'
    src.parent.mkdir()
    model = _runner_checkpoint(src)
    with pytest.raises(UnsafeCheckpointError, match='--trust-pickle'):
        publish_checkpoint(str(src), str(tmp_path / 'out' / 'scalenet.pth'))
    assert listing(tmp_path / 'out') == []

    final = Path(publish_checkpoint(str(src), str(tmp_path / 'out' / 'scalenet.pth'),
                                    allow_pickle=True))
    data = final.read_bytes()
    assert final.name == f'scalenet-{hashlib.sha256(data).hexdigest()[:8]}.pth'
    assert listing(tmp_path / 'out') == [final.name]  # no temporary file left
    published = torch.load(final, weights_only=True)
    assert set(published) == {'state_dict', 'meta'}
    assert published['meta'] == {'epoch': 3, 'iter': 30, 'seed': 7, 'cfg': 'model = dict(...)',
                                 'dataset_meta': {'classes': ('a', 'b')}, 'lr': 0.5}
    for key, value in model.state_dict().items():
        assert torch.equal(published['state_dict'][key], value)
    assert load_published(str(final))['meta']['epoch'] == 3

    file_server.files[f'/zoo/{final.name}'] = data
    again = scalenet(depth=2.0, adapter=dict(type='lora', rank=2),
                     init_cfg=dict(type='Pretrained',
                                   checkpoint=file_server.url(f'/zoo/{final.name}')))
    again.init_weights()
    with torch.no_grad():
        assert torch.equal(again(images())[0], model.eval()(images())[0])
    assert listing(hub_dir) == [final.name]


def test_published_file_changed_later_is_detected(tmp_path: Path) -> None:
    path = tmp_path / 'w.pth'
    torch.save({'state_dict': {'w': torch.ones(3)}}, path)
    final = Path(publish_checkpoint(str(path), str(tmp_path / 'w.pth')))
    data = bytearray(final.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte
    final.write_bytes(bytes(data))
    with pytest.raises(ValueError, match='does not match the sha256 prefix'):
        load_published(str(final))
