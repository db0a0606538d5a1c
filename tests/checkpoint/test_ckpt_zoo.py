"""The model zoo: ``scalenet_mm::`` base configs from outside the repository, ModelHub names,
``get_model(..., pretrained=True)`` through the verified download, and unpublished weights."""
import os.path as osp
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from mmengine.config import Config
from mmengine.registry import MODELS, DefaultScope

from ckpt_helpers import FileServer, serialize, sha_name, timm_deit_tiny
from scalenet_mm.checkpoint import UnpublishedWeightsError, zoo
from scalenet_mm.registry import PACKAGE

REPO = Path(__file__).resolve().parents[2]


def _installed_configs() -> bool:
    """Whether mmengine's own lookup finds the package's configs (a development install made
    with ``pip install --no-use-pep517 -e .``, or a regular one)."""
    from mmengine.utils import get_installed_path
    try:
        return osp.isdir(osp.join(get_installed_path(PACKAGE), '.mim', 'configs'))
    except Exception:
        return False


needs_installed_configs = pytest.mark.skipif(
    not _installed_configs(),
    reason="mmengine.utils.get_installed_path('scalenet_mm') has no .mim/configs: the "
    'package is not installed in a way mmengine can resolve (a PEP 660 editable install); '
    'reinstall with tools/setup_env.sh (pip install --no-use-pep517 -e .)')


def _outside_config(tmp_path: Path, base: str, extra: str = '') -> Path:
    path = tmp_path / 'user_project' / 'my_config.py'
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f'_base_ = {base!r}\nmodel = dict(backbone=dict(init_cfg=None))\n{extra}')
    return path


def _build(cfg: Config) -> torch.nn.Module:
    """Build ``cfg.model`` as the Runner does: mmengine's root registry, the config's scope."""
    with DefaultScope.overwrite_default_scope(cfg.default_scope):
        return MODELS.build(cfg.model)


def test_model_index_imports_exist() -> None:
    """mmengine reads every listed metafile to resolve any ``scalenet_mm::`` config."""
    index = yaml.safe_load((REPO / 'model-index.yml').read_text())
    missing = [p for p in index['Import'] if not (REPO / p).is_file()]
    assert not missing, f'model-index.yml lists metafiles that do not exist: {missing}'
    installed = REPO / 'scalenet_mm' / '.mim' / 'model-index.yml'
    assert installed.is_file(), 'scalenet_mm/.mim/model-index.yml is missing: pip install -e .'


@needs_installed_configs
def test_scalenet_mm_classification_base_from_outside(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    cfg = Config.fromfile(str(_outside_config(tmp_path, 'scalenet_mm::cls/scalenet_t2x_in1k.py')))
    assert cfg.model.backbone.type == 'ScaleNetViT'
    assert cfg.model.get('_scope_') in (PACKAGE, 'mmpretrain')
    model = _build(cfg)
    assert type(model).__name__ == 'ImageClassifier'
    assert model.backbone.depth == 2 * model.backbone.num_source_layers == 24
    model.eval()
    with torch.no_grad():
        logits = model(torch.randn(1, 3, 224, 224), mode='tensor')
    assert logits.shape == (1, 1000)


@needs_installed_configs
def test_scalenet_mm_detection_base_from_outside(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    cfg = Config.fromfile(str(_outside_config(tmp_path,
                                              'scalenet_mm::det/mask_rcnn_scalenet_b2x.py')))
    model = _build(cfg)
    assert type(model).__name__ == 'MaskRCNN'
    assert type(model.backbone).__name__ == 'ScaleNetViT' and model.backbone.depth == 24


@pytest.mark.slow
@needs_installed_configs
def test_runner_builds_from_an_outside_config(tmp_path: Path) -> None:
    """A fresh interpreter in a folder outside the repository: the Runner (mmengine's root
    registries, hooks, visualizer) builds the classifier of a ``scalenet_mm::`` base."""
    cfg = _outside_config(tmp_path, 'scalenet_mm::cls/scalenet_t2x_in1k.py',
                          f'work_dir = {str(tmp_path / "work")!r}\n')
    script = ('import scalenet_mm\nfrom mmengine.config import Config\n'
              'from mmengine.runner import Runner\n'
              f'runner = Runner.from_cfg(Config.fromfile({str(cfg)!r}))\n'
              'print("BUILT", type(runner.model).__name__, runner.model.backbone.depth)\n')
    proc = subprocess.run([sys.executable, '-c', script], cwd=tmp_path, capture_output=True,
                          text=True, timeout=600, env={**__import__('os').environ,
                                                       'OMP_NUM_THREADS': '1'})
    assert 'BUILT ImageClassifier 24' in proc.stdout, proc.stdout[-3000:] + proc.stderr[-3000:]


def test_package_lookup_is_mmengines_own() -> None:
    """No monkeypatch: the function mmengine's config module calls is mmengine's."""
    import mmengine.config.config as mm_config
    import mmengine.utils
    from mmengine.config.utils import MODULE2PACKAGE
    assert mm_config.get_installed_path is mmengine.utils.get_installed_path
    assert MODULE2PACKAGE[PACKAGE] == PACKAGE


def test_base_weights_are_registered_without_name_conflicts() -> None:
    from mmpretrain import list_models
    from mmpretrain.apis.model import ModelHub
    names = list_models('deit-*official*')
    assert names == ['deit-base_official_in1k', 'deit-small_official_in1k',
                     'deit-tiny_official_in1k']
    ModelHub._register_mmpretrain_models()  # raises on a name clash with mmpretrain's zoo
    assert zoo.published_weights('deit-tiny_official_in1k') == \
        'https://dl.fbaipublicfiles.com/deit/deit_tiny_patch16_224-a1311bcf.pth'
    assert ModelHub.get('deit-tiny_official_in1k').weights == \
        'scalenet-zoo://deit-tiny_official_in1k'


def test_get_model_pretrained_downloads_converts_and_matches_timm(
        file_server: FileServer, hub_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``mmpretrain.get_model('deit-tiny_official_in1k', pretrained=True)``: the official file
    (served locally) is downloaded, verified, converted; the logits equal timm's DeiT-Tiny."""
    import mmpretrain
    ref = timm_deit_tiny(img_size=224)
    data = serialize({'model': ref.state_dict()})
    name = sha_name('deit_tiny_patch16_224', data)
    file_server.files[f'/deit/{name}'] = data
    monkeypatch.setitem(zoo._WEIGHTS, 'deit-tiny_official_in1k',
                        file_server.url(f'/deit/{name}'))
    model = mmpretrain.get_model('deit-tiny_official_in1k', pretrained=True)
    x = torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        diff = (model(x, mode='tensor') - ref(x)).abs().max().item()
    assert diff < 1e-4, diff
    assert file_server.hits == {f'/deit/{name}': 1}


def test_unpublished_weights_raise_a_clear_error(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """``pretrained=True`` on an entry with ``Weights: null`` fails with the reason instead
    of returning random weights (mmpretrain itself only warns)."""
    import mmpretrain
    from mmpretrain.apis.model import ModelHub
    (tmp_path / 'configs').mkdir()
    (tmp_path / 'configs' / 'tiny.py').write_text(
        "model = dict(type='ImageClassifier', backbone=dict(type='ScaleNetViT', "
        "arch=dict(embed_dims=32, num_layers=1, num_heads=2, feedforward_channels=64), "
        "img_size=32, depth=2.0), neck=None, head=dict(type='VisionTransformerClsHead', "
        "num_classes=3, in_channels=32))\n")
    (tmp_path / 'metafile.yml').write_text(
        'Models:\n  - Name: scalenet-unpublished-test\n    Config: configs/tiny.py\n'
        '    Weights: null\n')
    (tmp_path / 'model-index.yml').write_text('Import:\n  - metafile.yml\n')
    # (a private table, see scalenet_mm.private_api)
    monkeypatch.setattr(ModelHub, '_models_dict', dict(ModelHub._models_dict))
    monkeypatch.setattr(zoo, '_WEIGHTS', dict(zoo._WEIGHTS))
    assert zoo.register_model_zoo(str(tmp_path / 'model-index.yml'), str(tmp_path)) == 1
    with pytest.raises(UnpublishedWeightsError, match=r"no checkpoint has been published for "
                                                      r"'scalenet-unpublished-test'"):
        mmpretrain.get_model('scalenet-unpublished-test', pretrained=True)
    model = mmpretrain.get_model('scalenet-unpublished-test', pretrained=False)
    assert model.backbone.depth == 2
    # the project's own unpublished entries behave the same
    unpublished = sorted(name for name, url in zoo._WEIGHTS.items()
                         if url is None and name != 'scalenet-unpublished-test')
    assert unpublished, 'the ScaleNet classification entries are not registered'
    for name in unpublished:
        with pytest.raises(UnpublishedWeightsError, match=name):
            zoo.load_from_zoo(f'{zoo.ZOO_SCHEME}{name}')
    smallest = next((n for n in unpublished if 'tiny' in n), unpublished[0])
    with pytest.raises(UnpublishedWeightsError, match='Weights: null'):
        mmpretrain.get_model(smallest, pretrained=True)
