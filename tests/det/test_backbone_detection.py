"""ScaleNetViT as a detection backbone: a 224-px classification checkpoint (with a class
token) loads into the cls-free, windowed 1024-style model with its position embedding resized,
window attention works for token grids that are not a multiple of the window, every tensor
gets a gradient through non-reentrant checkpointing, and bad settings fail clearly."""
import pytest
import torch
from mmpretrain.models import VisionTransformer
from mmpretrain.models.utils import resize_pos_embed

from scalenet_mm.models import ScaleNetViT

ARCH = dict(embed_dims=32, num_layers=2, num_heads=2, feedforward_channels=64)


def det_backbone(**kwargs) -> ScaleNetViT:
    args = dict(arch=ARCH, depth=4, img_size=128, patch_size=16, out_type='featmap',
                with_cls_token=False, out_indices=(-1, ), final_norm=False, window_size=4,
                global_attn_indexes=(1, 3), use_rel_pos=True, with_cp=True)
    args.update(kwargs)
    return ScaleNetViT(**args)


def test_classification_checkpoint_with_cls_token_loads_at_another_size() -> None:
    torch.manual_seed(0)
    source = VisionTransformer(arch=ARCH, img_size=224, patch_size=16)  # 1 + 14*14 tokens
    state = source.state_dict()
    model = det_backbone()
    result = model.load_state_dict(state, strict=False)
    assert 'pos_embed' not in result.missing_keys
    assert 'layers.1.attn.qkv.weight' not in result.missing_keys
    expected = resize_pos_embed(state['pos_embed'][:, 1:], (14, 14), (8, 8), 'bicubic', 0)
    torch.testing.assert_close(model.pos_embed.data, expected)
    torch.testing.assert_close(model.layers[1].attn.qkv.weight, state['layers.1.attn.qkv.weight'])


@pytest.mark.parametrize('hw', [(112, 144), (128, 128), (80, 48)])
def test_windows_with_padding_forward_backward(hw) -> None:
    torch.manual_seed(0)
    model = det_backbone(drop_path_rate=0.1)
    for instance in model.instances:  # non-zero adapters and rel-pos so all get gradients
        for name, param in instance.named_parameters():
            torch.nn.init.normal_(param, std=0.02)
    model.train()
    x = torch.randn(2, 3, *hw)
    (out, ) = model(x)
    assert out.shape == (2, 32, hw[0] // 16, hw[1] // 16)
    assert torch.isfinite(out).all()
    out.square().mean().backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None]
    assert not missing


def test_window_result_equals_global_when_the_window_covers_the_grid() -> None:
    torch.manual_seed(0)
    windowed = det_backbone(window_size=8, global_attn_indexes=(3, ), use_rel_pos=False,
                            with_cp=False)
    plain = det_backbone(window_size=0, global_attn_indexes=(), use_rel_pos=False,
                         with_cp=False)
    plain.load_state_dict(windowed.state_dict())
    windowed.eval()
    plain.eval()
    x = torch.randn(1, 3, 128, 128)  # an 8x8 grid: one window, no padding
    torch.testing.assert_close(windowed(x)[0], plain(x)[0])


@pytest.mark.parametrize('kwargs, match', [
    (dict(global_attn_indexes=(1, 4)), 'global_attn_indexes'),
    (dict(with_cls_token=True, out_type='featmap'), 'with_cls_token=False'),
    (dict(window_size=-1), 'window_size'),
    (dict(out_indices=(7, )), 'out_indices'),
])
def test_bad_settings(kwargs, match) -> None:
    with pytest.raises(ValueError, match=match):
        det_backbone(**kwargs)


def test_init_cfg_loads_official_deit_layout(tmp_path) -> None:
    """The det configs' init_cfg: an official DeiT file (timm keys under 'model', 224 px,
    class token) fills the shared layers and the resized, cls-free position embedding."""
    import timm

    torch.manual_seed(0)
    deit = timm.models.vision_transformer.VisionTransformer(
        img_size=224, patch_size=16, embed_dim=32, depth=2, num_heads=2, mlp_ratio=2.0,
        num_classes=10)
    path = tmp_path / 'deit_tiny_like.pth'
    torch.save({'model': deit.state_dict()}, path)
    model = det_backbone(init_cfg=dict(type='Pretrained', checkpoint=str(path)))
    model.init_weights()
    torch.testing.assert_close(model.layers[1].attn.qkv.weight, deit.blocks[1].attn.qkv.weight)
    torch.testing.assert_close(model.layers[0].ffn.layers[1].weight, deit.blocks[0].mlp.fc2.weight)
    expected = resize_pos_embed(deit.pos_embed.detach()[:, 1:], (14, 14), (8, 8), 'bicubic', 0)
    torch.testing.assert_close(model.pos_embed.data, expected)


def test_init_cfg_loads_scalenet_classification_checkpoint(tmp_path) -> None:
    """The documented override: a ScaleNet classifier checkpoint (whole model, 'backbone.'
    keys) brings its shared layers and its per-instance LoRA adapters into the detector."""
    torch.manual_seed(0)
    classifier = ScaleNetViT(arch=ARCH, depth=4, img_size=32, patch_size=16)
    for instance in classifier.instances:
        for param in instance.parameters():
            torch.nn.init.normal_(param, std=0.02)
    state = {f'backbone.{k}': v for k, v in classifier.state_dict().items()}
    state['head.fc.weight'] = torch.zeros(5, 32)
    path = tmp_path / 'scalenet_cls.pth'
    torch.save({'state_dict': state, 'meta': {}}, path)
    model = det_backbone(init_cfg=dict(type='Pretrained', checkpoint=str(path),
                                       prefix='backbone.'))
    model.init_weights()
    torch.testing.assert_close(model.instances[3].lora['fc2'].lora_B,
                               classifier.instances[3].lora['fc2'].lora_B)
    torch.testing.assert_close(model.layers[0].attn.proj.weight,
                               classifier.layers[0].attn.proj.weight)
