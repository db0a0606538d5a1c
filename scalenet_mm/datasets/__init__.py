"""Dataset helpers: checks that a config's data exists before any training starts
(:mod:`.preflight`), and the preparation of Fashion-MNIST for the offline main job
(:mod:`.fashion_mnist`, also a command: ``python -m scalenet_mm.datasets.fashion_mnist``)."""
from .image_loading import CheckedLoadImageFromFile
from .preflight import check_data_roots

__all__ = ['CheckedLoadImageFromFile', 'check_data_roots']
