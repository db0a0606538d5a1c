"""Dataset helpers: checks that a config's data exists before any training starts."""
from .preflight import check_data_roots

__all__ = ['check_data_roots']
