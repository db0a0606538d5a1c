"""Helpers of the checkpoint tests: a local HTTP file server, small timm ViTs as references,
ScaleNet builders and comparisons."""
import hashlib
import http.server
import io
import threading
from pathlib import Path
from typing import Dict, List, Optional

import torch


class FileServer:
    """Serves ``files[path] = bytes`` on 127.0.0.1. ``truncate[path] = n`` sends only the
    first n bytes while announcing the full Content-Length. ``hits`` counts GETs per path."""

    def __init__(self) -> None:
        self.files: Dict[str, bytes] = {}
        self.truncate: Dict[str, int] = {}
        self.hits: Dict[str, int] = {}
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):

            def do_GET(self) -> None:  # noqa: N802 (http.server API)
                server.hits[self.path] = server.hits.get(self.path, 0) + 1
                data = server.files.get(self.path)
                if data is None:
                    self.send_error(404, 'not found')
                    return
                self.send_response(200)
                self.send_header('Content-Type', 'application/octet-stream')
                self.send_header('Content-Length', str(len(data)))
                self.end_headers()
                self.wfile.write(data[:server.truncate.get(self.path, len(data))])
                self.wfile.flush()
                self.close_connection = True

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


def randomize_(module: torch.nn.Module, seed: int = 0, std: float = 0.05) -> torch.nn.Module:
    """Add noise to every parameter (norm scales included), so that a wrong key mapping
    (norm1 vs norm2, fc1 vs fc2, ...) changes the outputs."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param in module.parameters():
            param.add_(torch.randn(param.shape, generator=gen) * std)
    return module


def timm_deit_tiny(img_size: int = 32, distilled: bool = False, seed: int = 0) -> torch.nn.Module:
    """timm's ``deit_tiny_patch16_224`` (random weights, no download) at a small input size."""
    import timm
    name = 'deit_tiny_distilled_patch16_224' if distilled else 'deit_tiny_patch16_224'
    torch.manual_seed(seed)
    model = timm.create_model(name, pretrained=False, img_size=img_size)
    return randomize_(model, seed).eval()


#: A small ViT used where only the plumbing matters (3 layers, 64 wide, 32 px, patch 16).
SMALL_ARCH = dict(embed_dims=64, num_layers=3, num_heads=4, feedforward_channels=128)


def timm_small_vit(depth: int = SMALL_ARCH['num_layers'], img_size: int = 32,
                   seed: int = 0, num_classes: int = 10) -> torch.nn.Module:
    """A timm ``VisionTransformer`` of :data:`SMALL_ARCH` width and the given depth."""
    from timm.models.vision_transformer import VisionTransformer
    torch.manual_seed(seed)
    model = VisionTransformer(img_size=img_size, patch_size=16, embed_dim=64, depth=depth,
                              num_heads=4, mlp_ratio=2.0, num_classes=num_classes)
    return randomize_(model, seed).eval()


def mm_vit(num_layers: int = SMALL_ARCH['num_layers'], img_size: int = 32, seed: int = 0,
           **kwargs) -> torch.nn.Module:
    """A stock mmpretrain ``VisionTransformer`` of :data:`SMALL_ARCH` width (all tokens out)."""
    from mmpretrain.models import VisionTransformer
    kwargs.setdefault('out_type', 'raw')
    torch.manual_seed(seed)
    model = VisionTransformer(arch=dict(SMALL_ARCH, num_layers=num_layers), img_size=img_size,
                              patch_size=16, **kwargs)
    randomize_(model, seed)
    model.eval()  # mmpretrain's train() returns None: do not chain
    return model


def scalenet(arch: Optional[dict] = None, img_size: int = 32, **kwargs) -> torch.nn.Module:
    """A ScaleNetViT of ``arch`` (default :data:`SMALL_ARCH`) returning all tokens."""
    from scalenet_mm.models import ScaleNetViT
    kwargs.setdefault('out_type', 'raw')
    return ScaleNetViT(arch=arch or dict(SMALL_ARCH), img_size=img_size, patch_size=16,
                       **kwargs).eval()


def max_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    return (a - b).abs().max().item()


def images(batch: int = 2, size: int = 32, seed: int = 1) -> torch.Tensor:
    return torch.randn(batch, 3, size, size, generator=torch.Generator().manual_seed(seed))


def serialize(obj: object) -> bytes:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


def sha_name(stem: str, data: bytes) -> str:
    return f'{stem}-{hashlib.sha256(data).hexdigest()[:8]}.pth'


def listing(folder: Path) -> List[str]:
    """Every file under ``folder`` (hidden ones included), relative, sorted."""
    if not folder.exists():
        return []
    return sorted(str(p.relative_to(folder)) for p in folder.rglob('*') if p.is_file())

