"""One rank of the DDP gradient all-reduce measurement, started by ``torchrun``.

``python -m torch.distributed.run --nproc-per-node 2 -m benchmarks.harness.allreduce_worker
'<json spec>'``: every rank builds the benchmark's models (same seed), reads the gradient
buckets DDP all-reduces in one training step of each (:func:`.sharing.ddp_bucket_sizes`), then
all ranks time all-reducing those buckets in interleaved rounds
(:func:`.sharing.allreduce_times`). Rank 0 writes ``{model: {buckets, elements, bytes,
allreduce_s, rounds}, 'world_size': N, 'backend': ...}`` to ``spec['out']``.

Spec keys: ``family, models, arch, depth, img_size, num_classes, seed, repeats, warmup,
threads, out`` and optionally ``backend`` (default gloo on CPU, nccl when ``device`` is cuda)
and ``device``.
"""
import gc
import json
import os
import sys
from typing import Any, Dict, List, Mapping

import torch
import torch.distributed as dist

from scalenet_mm.engine.atomic_checkpoint import atomic_write

from .families import build_models
from .sharing import allreduce_times, ddp_bucket_sizes


def measure(spec: Mapping[str, Any]) -> Dict[str, Any]:
    """Bucket sizes then all-reduce times of every model in ``spec['models']`` (this rank)."""
    device = torch.device(spec.get('device', 'cpu'))
    buckets: Dict[str, List[int]] = {}
    for name in spec['models']:
        # One model at a time: a model, its gradients and DDP's bucket copies of a 24-layer
        # DeiT-B are about 2 GB per rank.
        model = build_models(spec['family'], [name], spec['arch'], spec['depth'],
                             spec['img_size'], spec['num_classes'], spec['seed'])[name]
        model = model.to(device)
        images = torch.randn(1, 3, spec['img_size'], spec['img_size'], device=device)
        buckets[name] = ddp_bucket_sizes(model, images)
        del model, images
        gc.collect()
    results: Dict[str, Any] = allreduce_times(buckets, repeats=spec['repeats'],
                                              warmup=spec['warmup'])
    results['world_size'] = dist.get_world_size()
    results['backend'] = dist.get_backend()
    return results


def main(argv: List[str]) -> None:
    spec = json.loads(argv[0])
    if spec.get('threads'):
        torch.set_num_threads(int(spec['threads']))
    backend = spec.get('backend') or ('nccl' if spec.get('device', 'cpu').startswith('cuda')
                                      else 'gloo')
    if backend == 'nccl':
        spec = dict(spec, device=f'cuda:{int(os.environ["LOCAL_RANK"])}')
    dist.init_process_group(backend)
    try:
        results = measure(spec)
        if dist.get_rank() == 0:
            atomic_write(spec['out'], json.dumps(results, indent=2))
    finally:
        dist.destroy_process_group()


if __name__ == '__main__':
    main(sys.argv[1:])
