"""Does a trained model use its layer instances? Test top-1 with one instance skipped at a time.

A layer instance that a model relies on costs accuracy when it is replaced by the identity; one
that learned to do almost nothing costs almost none. This answers the question the evidence
raised: the grown models (ScaleNet, stacking, plain sharing) end level with the base trained
as long without growing, and if their added instances act almost as identities, the added depth
is not being used, whatever adapter they carry.

Skipping works on any ``ScaleNetViT`` (the base and plain ViTs of the experiment are ScaleNetViTs
with ``depth=1.0``): a forward hook on every shared block returns the block's input instead of its
output when the block runs for the skipped instance (blocks are called as
``block(x, instance, hw, num_extra_tokens)``), so the other instances, the final norm and the
head run unchanged. Evaluation is the run's own test dataloader and data preprocessor, through
``model.test_step``.

A second measure says *how* an unused instance does nothing: the relative update
``||x_out - x_in|| / ||x_in||`` of every instance (token-wise norms, averaged over tokens and
images) and the norm of the residual stream it reads. A pre-norm block's output has a scale set by
its weights, whatever the size of its input (its input is normalised first); a model can therefore
silence its later instances by letting the residual stream grow, without changing their weights.
A third says how far each instance's LoRA moved its use of the shared block:
``||scaling * B @ A|| / ||W||`` per adapted linear (0 at the start, B being zero-initialised).

Command (after ``experiments/reproduce_scalenet.py``)::

    python -m experiments.scalenet_evidence.instance_use work_dirs/evidence/runs/scalenet_seed0 \\
        work_dirs/evidence/runs/scratch_seed0 --out work_dirs/evidence/instance_use.json
"""
import argparse
import glob
import json
import os.path as osp
from contextlib import contextmanager
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn


@contextmanager
def skipping_instance(backbone: nn.Module,
                      index: Union[None, int, Sequence[int]]) -> Iterator[None]:
    """Run ``backbone`` (a ScaleNetViT) with instance ``index`` (or every instance of a
    sequence of indices) replaced by the identity (``None``: nothing skipped)."""
    if index is None:
        yield
        return
    indices = [index] if isinstance(index, int) else list(index)
    targets = {id(backbone.instances[i]) for i in indices}

    def identity_for_target(block: nn.Module, args: tuple, output: torch.Tensor) -> torch.Tensor:
        return args[0] if id(args[1]) in targets else output

    handles = [block.register_forward_hook(identity_for_target) for block in backbone.layers]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


def relative_updates(backbone: nn.Module, images: torch.Tensor) -> Dict[str, List[float]]:
    """Per instance of ``backbone`` (a ScaleNetViT) on ``images``: ``'update'``, the mean over
    tokens of ``||x_out - x_in|| / ||x_in||``, and ``'stream'``, the mean token norm of its
    input ``x_in`` (both computed over every token, class token included)."""
    index_of = {id(instance): i for i, instance in enumerate(backbone.instances)}
    update = [0.0] * len(backbone.instances)
    stream = [0.0] * len(backbone.instances)

    def record(block: nn.Module, args: tuple, output: torch.Tensor) -> None:
        x_in = args[0]
        norm = x_in.norm(dim=-1)
        i = index_of[id(args[1])]
        update[i] = float(((output - x_in).norm(dim=-1) / norm.clamp_min(1e-12)).mean())
        stream[i] = float(norm.mean())

    handles = [block.register_forward_hook(record) for block in backbone.layers]
    try:
        with torch.no_grad():
            backbone(images)
    finally:
        for handle in handles:
            handle.remove()
    return dict(update=update, stream=stream)


def lora_deltas(backbone: nn.Module) -> List[Dict[str, float]]:
    """Per instance of ``backbone`` (a ScaleNetViT): ``{target: ||delta W|| / ||W||}`` for each
    LoRA target (``qkv``, ``proj``, ``fc1``, ``fc2``) of its source block; empty without LoRA."""
    deltas: List[Dict[str, float]] = []
    with torch.no_grad():
        for instance in backbone.instances:
            block = backbone.layers[instance.source]
            shared = {'qkv': block.attn.qkv, 'proj': block.attn.proj, 'fc1': block.ffn.fc1,
                      'fc2': block.ffn.fc2}
            deltas.append({target: float(lora.delta_weight().norm() / shared[target].weight.norm())
                           for target, lora in instance.lora.items()})
    return deltas


def top1(model: nn.Module, loader: Any) -> float:
    """Top-1 % of ``model`` (an mmpretrain classifier) over ``loader`` via ``test_step``."""
    correct = total = 0
    model.eval()
    with torch.no_grad():
        for batch in loader:
            for sample in model.test_step(batch):
                correct += int(sample.pred_label == sample.gt_label)
                total += 1
    return 100.0 * correct / total


def load_run(run_dir: str, test_size: int = 0) -> Any:
    """The classifier of a finished experiment run (its config and last checkpoint) and its
    test dataloader (the first ``test_size`` test images; 0: the config's own subset)."""
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmengine.runner import Runner
    from mmpretrain.apis import get_model

    import scalenet_mm  # noqa: F401  (registers ScaleNetViT)
    configs = sorted(glob.glob(osp.join(run_dir, '*.py')))
    checkpoints = sorted(glob.glob(osp.join(run_dir, 'epoch_*.pth')),
                         key=lambda p: int(osp.basename(p)[6:-4]))
    if not configs or not checkpoints:
        raise FileNotFoundError(f'{run_dir} holds no config (*.py) or no epoch_*.pth: pass the '
                                f'folder of a finished run of experiments/reproduce_scalenet.py')
    cfg = Config.fromfile(configs[0])
    init_default_scope(cfg.get('default_scope', 'mmpretrain'))  # the dataset's registry
    cfg.model.backbone.init_cfg = None
    cfg.model.head.pop('init_cfg', None)
    if test_size:
        cfg.test_dataloader.dataset.indices = test_size
    # get_model moves the config's top-level data_preprocessor into the model, as the Runner does.
    model = get_model(cfg)
    # The experiment's own checkpoint (a trusted local file with mmengine's message hub in it).
    state = torch.load(checkpoints[-1], map_location='cpu', weights_only=False)['state_dict']
    model.load_state_dict(state)
    return model, Runner.build_dataloader(cfg.test_dataloader)


def instance_use(run_dir: str, test_size: int = 0,
                 label: Optional[str] = None) -> Dict[str, Any]:
    """``{'run', 'full', 'skipped': [top-1 with instance i skipped], 'cost': full - skipped,
    'update': [relative update of instance i], 'stream': [its input's norm]}`` (the last two on
    the first test batch, see :func:`relative_updates`; ``'run'`` is ``label``, by default the
    run folder's name), ``'lora_delta'`` (see
    :func:`lora_deltas`), and ``'skipped_top_half'`` / ``'cost_top_half'``: top-1 with the top
    half of the instances skipped together (models of 4 or more instances; None otherwise).

    Skipping one instance at a time cannot tell an instance that does nothing from one whose
    work another instance can take over; skipping the top half together can. Under the cyclic
    map (and for the stacked copies) the top half is exactly the added depth, so its cost is
    what the added instances carry jointly; for a deep model from scratch it is what its top
    layers carry."""
    model, loader = load_run(run_dir, test_size)
    model.eval()
    first = model.data_preprocessor(next(iter(loader)), False)['inputs']
    measures = relative_updates(model.backbone, first)
    full = top1(model, loader)
    depth = len(model.backbone.instances)
    skipped: List[float] = []
    for index in range(depth):
        with skipping_instance(model.backbone, index):
            skipped.append(top1(model, loader))
    skipped_top_half = None
    if depth >= 4:
        with skipping_instance(model.backbone, range(depth // 2, depth)):
            skipped_top_half = top1(model, loader)
    return dict(run=label or osp.basename(osp.normpath(run_dir)), full=full, skipped=skipped,
                cost=[round(full - value, 4) for value in skipped],
                skipped_top_half=skipped_top_half,
                cost_top_half=(None if skipped_top_half is None
                               else round(full - skipped_top_half, 4)),
                lora_delta=lora_deltas(model.backbone), **measures)


def _instance_table(header: str, align: str, width: int,
                    cells: List[Tuple[str, List[str]]]) -> List[str]:
    """A blank line, then a markdown table with a run per row (``(run, cells)`` pairs, in
    order: two runs of the same name keep a row each) and ``width`` instance columns
    (``header.format(i)``); short rows are padded with empty cells."""
    lines = ['', '| run | ' + ' | '.join(header.format(i) for i in range(width)) + ' |',
             '|---|' + align * width]
    for run, row in cells:
        lines.append(f'| {run} | ' + ' | '.join(row + [''] * (width - len(row))) + ' |')
    return lines


def format_rows(results: List[Dict[str, Any]]) -> str:
    """A markdown table: a run per row, the top-1 cost of skipping each instance."""
    width = max(len(r['skipped']) for r in results)
    lines = ['| run | top-1 | ' + ' | '.join(f'skip {i}' for i in range(width))
             + ' | skip top half |', '|---|---:|' + '---:|' * (width + 1)]
    for r in results:
        costs = [f'{-c:+.2f}' for c in r['cost']] + [''] * (width - len(r['cost']))
        half = r.get('cost_top_half')
        costs.append('' if half is None else f'{-half:+.2f}')
        lines.append(f"| {r['run']} | {r['full']:.2f} | " + ' | '.join(costs) + ' |')
    if all('update' in r for r in results):
        lines += _instance_table(
            'update {} (stream)', '---:|', width,
            [(r['run'], [f'{u:.3f} ({n:.1f})' for u, n in zip(r['update'], r['stream'])])
             for r in results])
    with_lora = [r for r in results if any(r.get('lora_delta') or ())]
    if with_lora:
        lines += _instance_table(
            'LoRA delta / W, instance {}', '---|', width,
            [(r['run'], [', '.join(f'{t} {v:.3f}' for t, v in d.items())
                         for d in r['lora_delta']])
             for r in with_lora])
    return '\n'.join(lines)


def run_label(run_dir: str, run_dirs: Sequence[str]) -> str:
    """A run's name in the tables: its folder's name (``scalenet_seed0``), or, when another run
    of ``run_dirs`` has the same folder name (the same arm of two experiments), that name
    prefixed by its experiment's work dir (``e12/scalenet_seed0`` for ``e12/runs/scalenet_seed0``)."""
    name = osp.basename(osp.normpath(run_dir))
    if sum(osp.basename(osp.normpath(other)) == name for other in run_dirs) < 2:
        return name
    parent = osp.dirname(osp.normpath(run_dir))
    if osp.basename(parent) == 'runs':
        parent = osp.dirname(parent)
    return f'{osp.basename(parent)}/{name}'


def main(argv: Optional[List[str]] = None) -> List[Dict[str, Any]]:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('runs', nargs='+', help='folders of finished runs')
    parser.add_argument('--test-size', type=int, default=0,
                        help='first N test images (0: the run config\'s test set)')
    parser.add_argument('--threads', type=int, default=1)
    parser.add_argument('--out', help='write the results as JSON here')
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    try:
        results = [instance_use(run, args.test_size, run_label(run, args.runs))
                   for run in args.runs]
    except FileNotFoundError as error:
        parser.exit(2, f'error: {error}\n')
    print(format_rows(results))
    if args.out:
        from scalenet_mm.engine.atomic_checkpoint import atomic_write
        atomic_write(args.out, json.dumps(results, indent=1))
    return results


if __name__ == '__main__':
    main()
