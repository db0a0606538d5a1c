"""The experiment's figure: validation accuracy against training epochs for every arm."""
from typing import Dict

import matplotlib

matplotlib.use('Agg')  # files only; no display on servers
import matplotlib.pyplot as plt  # noqa: E402

from scalenet_mm.engine.atomic_checkpoint import atomic_path  # noqa: E402

from . import swin_arms  # noqa: E402
from .experiment import Settings  # noqa: E402
from .report import ArmSummary  # noqa: E402

STYLES = {
    'pretrain': dict(color='0.4', linestyle=':'),
    'scratch': dict(color='tab:red', linestyle='--'),
    'scalenet': dict(color='tab:blue', linewidth=2.2),
    'shared_noadapter': dict(color='tab:orange'),
    'stacking': dict(color='tab:green'),
    'interleave': dict(color='tab:purple'),
    'gate': dict(color='tab:cyan'),
    'continue': dict(color='0.4', linestyle='-.'),
    'pretrain_long': dict(color='0.6', linestyle=':'),
    'lora_rank1': dict(color='tab:brown', linestyle='--'),
    'lora_rank16': dict(color='tab:pink', linestyle='--'),
    'bottleneck': dict(color='tab:olive', linestyle='--'),
    'lora_inserted': dict(color='tab:gray', linestyle='--'),
    'adapter_lr4': dict(color='navy', linestyle='--'),
    **swin_arms.STYLES,
}


def plot_curves(summaries: Dict[str, ArmSummary], settings: Settings, out_file: str) -> str:
    """Write a two-panel PNG and return its path.

    Left: accuracy against each run's own epochs. Right: the same curves with the growth
    arms shifted by the E pretraining epochs, i.e. against all epochs spent on the data
    (pretraining epochs are of the L-layer model, about half the cost of a 2L epoch).
    Lines are means over seeds, bands +- one standard deviation.
    """
    fig, axes = plt.subplots(1, 2, figsize=(13, 5), sharey=True)
    finals = []
    for name, summary in summaries.items():
        curve = summary.mean_curve()
        if not curve:
            continue
        epochs = [c[0] for c in curve]
        mean = [c[1] for c in curve]
        std = [c[2] for c in curve]
        finals.append(mean[-1])
        style = STYLES.get(name, {})
        label = f'{summary.arm.label} (n={len(summary.top1)})'
        for ax, shifted in ((axes[0], False), (axes[1], True)):
            offset = settings.pretrain_epochs if shifted and summary.arm.init != 'scratch' else 0
            xs = [e + offset for e in epochs]
            ax.plot(xs, mean, marker='o', markersize=3, label=label, **style)
            ax.fill_between(xs, [m - s for m, s in zip(mean, std)],
                            [m + s for m, s in zip(mean, std)], alpha=0.15,
                            color=style.get('color'))
    if finals:
        low = max(0.0, min(finals) - 8.0)
        high = min(100.0, max(finals) + 2.0)
        axes[0].set_ylim(low, high)
    axes[0].set_xlabel('training epochs of the run')
    axes[1].set_xlabel(f'epochs including the E={settings.pretrain_epochs} pretraining epochs '
                       f'(L layers)')
    axes[0].set_ylabel(f'validation top-1 (%), first {settings.val_images:,} test images')
    for ax in axes:
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8, loc='lower right')
    fig.suptitle(f'ScaleNet evidence: ViT L={settings.layers} -> {settings.deep_layers} layers, '
                 f'width {settings.embed_dims}, {settings.train_images:,} training images, '
                 f'mean +- std over {len(settings.seeds)} seed(s)')
    fig.tight_layout()
    with atomic_path(out_file) as tmp:  # a kill never leaves a truncated PNG behind
        fig.savefig(tmp, dpi=120, format='png')
    plt.close(fig)
    return out_file
