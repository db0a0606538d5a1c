"""Check that mmcv's compiled ops are importable, with the fix in the message.

Why: ``pip install mmcv`` can end up without ops (``mmcv-lite``, or a build that skipped
them); Mask R-CNN then fails deep inside mmdet with ``No module named 'mmcv._ext'`` at the
first RoIAlign / nms call, after the model and data were built. Calling
:func:`check_mmcv_ops` first turns that into one clear message naming the fix.
"""
import importlib

#: The command that installs mmcv 2.1.0 with its ops into the project's environment.
REBUILD_COMMAND = 'bash tools/setup_env.sh --rebuild-mmcv'


class MmcvOpsMissingError(ImportError):
    """mmcv is importable but its compiled ops (``mmcv._ext``) are not."""


def check_mmcv_ops() -> None:
    """Raise :class:`MmcvOpsMissingError` when ``mmcv._ext`` (RoIAlign, nms, ...) cannot load.

    Imports nothing else and changes nothing: safe to call before building a detector.
    """
    try:
        importlib.import_module('mmcv._ext')
    except ImportError as err:
        try:
            import mmcv
            version = mmcv.__version__
        except ImportError:
            version = 'not importable'
        raise MmcvOpsMissingError(
            f'mmcv (version {version}) has no compiled ops: importing mmcv._ext failed with '
            f'"{err}". Detection models (RoIAlign, nms) need them; mmcv-lite and builds '
            f'without MMCV_WITH_OPS=1 lack them. Fix: {REBUILD_COMMAND} (builds mmcv 2.1.0 '
            f'with ops for the installed torch, about 7 minutes on 2 cores, or installs a '
            f'cached wheel).') from err
