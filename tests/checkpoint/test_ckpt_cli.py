"""tools/model_converters/scalenet_ckpt.py: convert, expand, export, publish (run in-process)."""
import importlib.util
from pathlib import Path
from types import ModuleType
from typing import Dict

import pytest
import torch
from mmpretrain.registry import MODELS

from ckpt_helpers import SMALL_ARCH, images, listing, max_diff, timm_small_vit

REPO = Path(__file__).resolve().parents[2]
L = SMALL_ARCH['num_layers']
CONFIG = f"""
default_scope = 'mmpretrain'
model = dict(
    type='ImageClassifier',
    backbone=dict(type='ScaleNetViT', arch={dict(SMALL_ARCH)!r}, img_size=32, patch_size=16,
                  depth=2.0, adapter=dict(type='lora', rank=4), per_instance_norm=True,
                  gate_inserted=True,
                  init_cfg=dict(type='Pretrained', checkpoint='https://example.invalid/x.pth')),
    neck=None,
    head=dict(type='VisionTransformerClsHead', num_classes=10, in_channels=64))
"""


@pytest.fixture(scope='module')
def cli() -> ModuleType:
    path = REPO / 'tools' / 'model_converters' / 'scalenet_ckpt.py'
    spec = importlib.util.spec_from_file_location('scalenet_ckpt_cli', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _classifier(num_layers: int) -> torch.nn.Module:
    model = MODELS.build(dict(
        type='ImageClassifier', neck=None,
        backbone=dict(type='VisionTransformer', arch=dict(SMALL_ARCH, num_layers=num_layers),
                      img_size=32, patch_size=16),
        head=dict(type='VisionTransformerClsHead', num_classes=10, in_channels=64)))
    model.eval()
    return model


def test_convert_official_to_mmpretrain_and_back(cli: ModuleType, tmp_path: Path) -> None:
    ref = timm_small_vit(num_classes=10)
    src = tmp_path / 'official.pth'
    torch.save({'model': ref.state_dict()}, src)
    out = cli.main(['convert', str(src), str(tmp_path / 'mm.pth'), '--to', 'mmpretrain'])
    converted = torch.load(out, weights_only=True)
    plain = _classifier(L)
    plain.load_state_dict(converted['state_dict'], strict=True)
    with torch.no_grad():
        assert max_diff(plain(images(), mode='tensor'), ref(images())) < 1e-5
    back = cli.main(['convert', out, str(tmp_path / 'timm.pth'), '--to', 'timm'])
    round_trip = torch.load(back, weights_only=True)['model']
    assert round_trip.keys() == ref.state_dict().keys()
    assert all(torch.equal(round_trip[k], v) for k, v in ref.state_dict().items())


def test_expand_export_publish(cli: ModuleType, tmp_path: Path) -> None:
    """Base -> ScaleNet (function preserved) -> "trained" -> plain timm ViT (same logits) ->
    published file with its hash in the name."""
    config = tmp_path / 'tiny_scalenet.py'
    config.write_text(CONFIG)
    base = timm_small_vit(num_classes=10)
    torch.save({'model': base.state_dict()}, tmp_path / 'base.pth')
    expanded_path = cli.main(['expand', str(config), str(tmp_path / 'base.pth'),
                              str(tmp_path / 'expanded.pth')])
    expanded: Dict = torch.load(expanded_path, weights_only=True)
    assert expanded['meta']['base_layout'] == 'timm'
    model = cli._build_model(str(config), None)
    model.load_state_dict(expanded['state_dict'], strict=True)
    model.eval()
    with torch.no_grad():
        assert max_diff(model(images(), mode='tensor'), base(images())) < 2e-5

    gen = torch.Generator().manual_seed(7)
    trained = {k: v + torch.randn(v.shape, generator=gen) * 0.05
               for k, v in expanded['state_dict'].items()}
    torch.save({'state_dict': trained, 'optimizer': {'state': {}}, 'meta': {'epoch': 9}},
               tmp_path / 'epoch_9.pth')
    model.load_state_dict(trained)
    with torch.no_grad():
        logits = model(images(), mode='tensor')

    exported = cli.main(['export', str(config), str(tmp_path / 'epoch_9.pth'),
                         str(tmp_path / 'plain_timm.pth'), '--layout', 'timm'])
    payload = torch.load(exported, weights_only=True)
    assert payload['meta']['plain_backbone']['arch']['num_layers'] == 2 * L
    timm_plain = timm_small_vit(depth=2 * L, num_classes=10)
    timm_plain.load_state_dict(payload['model'], strict=True)
    with torch.no_grad():
        assert max_diff(timm_plain(images()), logits) < 2e-5

    published = cli.main(['publish', exported, str(tmp_path / 'zoo' / 'vit6.pth')])
    assert Path(published).name.startswith('vit6-') and listing(tmp_path / 'zoo') == [
        Path(published).name]


def test_convert_refuses_scalenet_and_writes_nothing(cli: ModuleType, tmp_path: Path) -> None:
    from ckpt_helpers import scalenet
    torch.save({'state_dict': scalenet(depth=2.0).state_dict()}, tmp_path / 's.pth')
    with pytest.raises(SystemExit, match='use the "export" command'):
        cli.main(['convert', str(tmp_path / 's.pth'), str(tmp_path / 'o.pth'), '--to', 'timm'])
    assert not (tmp_path / 'o.pth').exists()
