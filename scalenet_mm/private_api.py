"""Every private attribute of mmengine or mmpretrain this project touches, in one place.

Each accessor says why no public API does the job. ``tests/runtime/test_private_api.py``
calls every one of them against the installed versions, so an upstream change that renames
or reshapes one fails that test instead of failing at a user's first resume or download.
Nothing here changes upstream state; callers decide what to do with what they get.
"""
from typing import Any, Callable, Dict, List


def default_scope_names() -> List[str]:
    """Scope names of every ``DefaultScope`` instance, oldest first.

    Why private: mmengine only offers ``DefaultScope.get_current_instance()`` (the newest).
    While it builds a ``_scope_='scalenet_mm'`` dict it pushes a temporary ``scalenet_mm``
    scope, and the scope the build runs in (mmpretrain or mmdet) is the one below it, which
    only ``ManagerMixin._instance_dict`` (an ordered dict: name -> instance) lists.
    """
    from mmengine.registry import DefaultScope
    return [instance.scope_name for instance in DefaultScope._instance_dict.values()]


def checkpoint_schemes() -> Dict[str, Callable[..., Any]]:
    """mmengine's ``CheckpointLoader`` scheme table (prefix -> loader), the live dict.

    Why private: mmengine has ``register_scheme`` to set a loader but nothing to read one;
    :func:`scalenet_mm.runtime.install` must remember the loaders it replaces so that
    ``uninstall()`` can put exactly those back, and tests must compare them.
    """
    from mmengine.runner.checkpoint import CheckpointLoader
    return CheckpointLoader._schemes


def mmengine_home() -> str:
    """mmengine's cache folder (``$MMENGINE_HOME``, default ``~/.cache/mmengine``).

    Why private: ``open-mmlab://`` names may resolve to files relative to this folder and
    mmengine resolves them with ``_get_mmengine_home`` only.
    """
    from mmengine.runner.checkpoint import _get_mmengine_home
    return _get_mmengine_home()


def process_mmcls_checkpoint(checkpoint: Dict[str, Any]) -> Dict[str, Any]:
    """mmengine's key clean-up of ``mmcls://`` checkpoints (``backbone.`` prefixes).

    Why private: the verified ``mmcls://`` loader must return exactly what mmengine's own
    loader returns, and mmengine implements that step in ``_process_mmcls_checkpoint`` only.
    """
    from mmengine.runner.checkpoint import _process_mmcls_checkpoint
    return _process_mmcls_checkpoint(checkpoint)


def modelhub_models() -> Dict[str, Any]:
    """mmpretrain's ``ModelHub`` table (lower-case name -> ``modelindex`` Model), live dict.

    Why private: ``ModelHub.register_model_index`` takes a whole metafile and registers its
    config paths relative to it, and its weights as given; the zoo registers a subset (the
    classification entries) with absolute config paths and ``scalenet-zoo://`` weights, and
    skips entries it already registered. Only the table allows that.
    """
    from mmpretrain.apis.model import ModelHub
    return ModelHub._models_dict
