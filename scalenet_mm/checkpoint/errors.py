"""The errors raised by checkpoint handling.

Each names what was wrong (file or URL, keys, shapes) and how to fix it, so a user who sees
one does not need to read the code. They subclass the built-in error a caller would already
catch (``ValueError`` for bad content, ``RuntimeError`` for transfers), so generic handlers
keep working.
"""


class CheckpointError(ValueError):
    """Base class: the checkpoint's content cannot be used as asked."""


class CheckpointFormatError(CheckpointError):
    """The file is not a checkpoint, or its keys match no known ViT layout."""


class CheckpointMismatchError(CheckpointError):
    """The checkpoint is for another architecture: keys missing, surplus or of other shapes."""


class UnsafeCheckpointError(CheckpointError):
    """The file holds Python objects whose unpickling could run code; it was not unpickled."""


class ExportError(CheckpointError):
    """The model uses something a plain ViT cannot express, so it cannot be exported."""


class DownloadError(RuntimeError):
    """A checkpoint could not be fetched, or the fetched bytes failed verification."""


class UnpublishedWeightsError(RuntimeError):
    """A model-zoo entry has no published weights (``Weights: null``)."""
