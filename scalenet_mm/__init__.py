"""scalenet_mm: ScaleNet for MMPretrain and MMDetection."""
from .version import __version__

__all__ = ['__version__']
