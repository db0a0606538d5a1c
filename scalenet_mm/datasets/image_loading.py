"""``CheckedLoadImageFromFile``: mmcv's ``LoadImageFromFile`` that names a corrupt image and the
fix instead of a bare assertion.

mmcv 2.1.0's ``LoadImageFromFile`` ends with ``assert img is not None, 'failed to load
image: <path>'`` when a file exists but cannot be decoded (truncated download, a disk error,
an HTML page saved as ``.jpg``). Training then dies in a data-loader worker with an
``AssertionError`` and no hint of what to do. This subclass raises ``ValueError`` naming the
file and the fix; everything else (arguments, results, ``ignore_empty``) is mmcv's.

Registered under its own name in mmpretrain's, mmdet's and mmcv's ``TRANSFORMS``; mmcv's
``LoadImageFromFile`` is left as it is. The project's configs use
``dict(type='CheckedLoadImageFromFile', ...)``; do the same in yours to get the message.
"""
from typing import Optional

from mmcv.transforms import LoadImageFromFile

from ..registry import register_transform

#: The start of mmcv's assertion message for an undecodable file.
_MMCV_DECODE_FAILURE = 'failed to load image'


@register_transform
class CheckedLoadImageFromFile(LoadImageFromFile):
    """mmcv's ``LoadImageFromFile`` with a clear error for files that cannot be decoded."""

    def transform(self, results: dict) -> Optional[dict]:
        """Load the image of ``results['img_path']`` (see mmcv's ``LoadImageFromFile``).

        Raises:
            ValueError: the file exists but is not a decodable image; the message names it
                and how to fix the data set.
        """
        try:
            return super().transform(results)
        except AssertionError as err:
            if not str(err).startswith(_MMCV_DECODE_FAILURE):
                raise
            path = results.get('img_path')
            raise ValueError(
                f'the image {path!r} cannot be decoded: the file is truncated, corrupted or not '
                f'an image. Replace or delete it (and remove its line from the ann_file, if the '
                f'dataset has one); re-extracting or re-downloading the data set restores '
                f'damaged files.') from None
