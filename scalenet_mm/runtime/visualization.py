"""Turn on the visualization hook of an mmpretrain or mmdet config for ``--show-dir``.

The two codebases name the switch differently: mmdet's ``DetVisualizationHook`` (and
mmseg-style hooks) take ``draw`` and ``test_out_dir``; mmpretrain's ``VisualizationHook``
takes ``enable`` and ``out_dir``. The hook class named by ``default_hooks.visualization``
is looked up in the config's default scope and its constructor decides which keys to set.
"""
import inspect
import os.path as osp
from typing import Any, Optional

from mmengine.config import Config
from mmengine.registry import HOOKS


def _hook_class(cfg: Config, hook_type: Any) -> type:
    """Resolve a hook ``type`` (a name or a class) in the config's default scope."""
    if isinstance(hook_type, type):
        return hook_type
    with HOOKS.switch_scope_and_registry(cfg.get('default_scope')) as registry:
        hook_cls = registry.get(hook_type)
    if hook_cls is None:
        raise KeyError(f'default_hooks.visualization.type={hook_type!r} is not a registered '
                       f'hook in scope {cfg.get("default_scope")!r}')
    return hook_cls


def enable_visualization(cfg: Config, show_dir: Optional[str], show: bool = False,
                         wait_time: Optional[float] = None, interval: int = 1
                         ) -> Optional[str]:
    """Make the test run draw its predictions into ``show_dir``.

    Args:
        cfg: a config whose ``default_hooks`` has a ``visualization`` hook.
        show_dir: where painted images go; made absolute (relative to the current
            directory) so both codebases write to the same place. None: draw only for
            ``show`` (or the config's visualizer backends).
        show: also display every image in a window.
        wait_time: seconds to display each image when ``show`` is set.
        interval: draw every ``interval``-th test sample (mmpretrain's hook samples, by
            default every 5000th; mmdet's hook draws every test image regardless).

    Returns:
        The absolute directory the images are written to (mmdet adds no sub-folder for an
        absolute path), or None.

    Raises:
        KeyError: when the config has no ``default_hooks.visualization``.
        TypeError: when the hook is neither an mmdet-style nor an mmpretrain-style hook.
    """
    hooks = cfg.get('default_hooks') or {}
    if 'visualization' not in hooks or not hooks['visualization']:
        raise KeyError(
            '--show-dir needs a visualization hook: add '
            'default_hooks=dict(visualization=dict(type="VisualizationHook")) (mmpretrain) or '
            'dict(type="DetVisualizationHook") (mmdet) to the config.')
    if interval < 1:
        raise ValueError(f'interval={interval} must be >= 1 (draw every interval-th sample)')
    hook = cfg.default_hooks.visualization
    params = inspect.signature(_hook_class(cfg, hook['type']).__init__).parameters
    if show_dir is not None:
        show_dir = osp.abspath(osp.expanduser(show_dir))
    if 'draw' in params and 'test_out_dir' in params:  # mmdet / mmseg style
        hook.draw = True
        if show_dir is not None:
            hook.test_out_dir = show_dir
    elif 'enable' in params and 'out_dir' in params:  # mmpretrain style
        hook.enable = True
        hook.interval = interval
        if show_dir is not None:
            hook.out_dir = show_dir
    else:
        raise TypeError(
            f'default_hooks.visualization.type={hook["type"]!r} takes neither (draw, '
            f'test_out_dir) nor (enable, out_dir); --show-dir supports mmdet and mmpretrain '
            f'visualization hooks.')
    if show:
        hook.show = True
        if wait_time is not None:
            hook.wait_time = wait_time
    return show_dir
