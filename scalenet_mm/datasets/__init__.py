"""Dataset helpers: checks that a config's data exists before any training starts."""
from . import image_loading  # noqa: F401  (LoadImageFromFile naming corrupt images)
from .preflight import check_data_roots

__all__ = ['check_data_roots']
