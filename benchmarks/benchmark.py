"""Benchmark ScaleNet against plain ViTs (or Swins) of the same depth, side by side in one run.

Measures a training step (forward, backward, AdamW), peak training memory (a fresh process per
model), inference images/s (ScaleNet with live adapters and with merged weights, the exported
plain ViT), unique parameters, AdamW state, checkpoint size and FLOPs per image for ScaleNet,
mmpretrain's and timm's plain ViT of the same depth and the pretrained L-layer ViT. Prints a
table with every figure as a ratio to the plain mmpretrain ViT and writes the JSON.
``--family swin`` does the same for ScaleNetSwin against mmpretrain's and timm's
``SwinTransformer`` of the same per-stage depths (``--arch tiny --depth 2``: 2-2-6-2 ->
4-4-12-4 blocks).

Examples::

    python benchmarks/benchmark.py --arch deit-small --depth 2 --batch-size 8 \
        --repeats 5 --warmup 1 --out work_dirs/bench/deit-s2x_b8.json
    python benchmarks/benchmark.py --family swin --arch tiny --depth 2 --batch-size 8 \
        --isolate --threads 1 --timer cpu --out work_dirs/bench/swin-t2x_b8.json

Timings interleave the models (A B C A B C ...) and report medians; on a shared machine run
the whole comparison in one invocation and read the ratios, not the absolute numbers.

``python benchmarks/benchmark.py --check-keep-memory`` only checks that ``--keep-memory``
works on this machine (glibc keeps freed memory: no page faults once warm; about 2.5 GiB).
"""
import argparse
import json
import os.path as osp
import sys
import warnings
from typing import List, Optional

# Run as ``python benchmarks/benchmark.py`` from a checkout: ``benchmarks`` (not installed) is
# imported from the repository root, the folder above this file.
ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from benchmarks.harness.benchmark import BenchmarkConfig, run_benchmark  # noqa: E402
from benchmarks.harness.families import (DEFAULT_ARCH, FAMILIES, model_word,  # noqa: E402
                                         parse_arch, pretrained_label)
from benchmarks.harness.models import MODEL_NAMES, REFERENCE_MODEL  # noqa: E402
from benchmarks.harness.report import (format_key_ratios, format_paired_ratios,  # noqa: E402
                                       format_table, format_throughput)
from scalenet_mm.engine.atomic_checkpoint import atomic_write  # noqa: E402


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--family', choices=FAMILIES, default='vit',
                        help='vit: ScaleNetViT vs plain ViTs; swin: ScaleNetSwin vs plain Swins '
                             'of the same per-stage depths')
    parser.add_argument('--arch', default=None,
                        help="vit: mmpretrain arch name (deit-tiny/small/base, ...) or a JSON "
                             "dict with embed_dims, num_layers, num_heads, feedforward_channels; "
                             "swin: tiny/small/base/large or a JSON dict with embed_dims, "
                             "depths, num_heads. Default: "
                             + ', '.join(f'{a} ({f})' for f, a in DEFAULT_ARCH.items()))
    parser.add_argument('--depth', type=float, default=2.0,
                        help='depth factor of the scaled model (2 = twice the layers; it must '
                             'give a whole number of layers, in every stage for swin)')
    parser.add_argument('--batch-size', type=int, default=8)
    parser.add_argument('--img-size', type=int, default=224)
    parser.add_argument('--device', default='cpu', help="'cpu' or 'cuda[:N]'")
    parser.add_argument('--dtype', choices=('fp32', 'bf16', 'fp16'), default='fp32',
                        help='autocast dtype (fp16 on CUDA only)')
    parser.add_argument('--compile', action='store_true', help='torch.compile every model')
    parser.add_argument('--repeats', type=int, default=5, help='timed interleaved rounds')
    parser.add_argument('--warmup', type=int, default=2, help='untimed rounds first')
    parser.add_argument('--models', nargs='+', default=list(MODEL_NAMES), choices=MODEL_NAMES)
    parser.add_argument('--reference', default=REFERENCE_MODEL, choices=MODEL_NAMES,
                        help='the model every ratio is relative to')
    parser.add_argument('--timer', choices=('wall', 'cpu'), default='wall',
                        help="which clock the table's times use: 'wall' (elapsed) or 'cpu' "
                             "(this process's CPU time: steadier on a CPU shared with other "
                             "work; use with --threads). Both are written to the JSON")
    parser.add_argument('--skip-memory', action='store_true',
                        help='do not measure peak training memory (fresh process per model)')
    parser.add_argument('--skip-train', action='store_true', help='no training-step timing')
    parser.add_argument('--skip-infer', action='store_true', help='no inference timing')
    parser.add_argument('--memory-steps', type=int, default=2,
                        help='training steps run by each memory process')
    parser.add_argument('--threads', type=int, default=None, help='torch CPU threads')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--peak-tflops', type=float, default=None,
                        help='dense peak TFLOP/s of the GPU at --dtype, for the utilisation '
                             'figure (H100/H200/A100 SXM are known; give it for other cards)')
    parser.add_argument('--isolate', action='store_true',
                        help='time each model\'s training step in its own worker process, '
                             'still interleaved round by round (models in one process disturb '
                             'each other through the C allocator; recommended on CPU)')
    parser.add_argument('--keep-memory', action='store_true',
                        help='make glibc keep freed memory (no page faults once warm, as with '
                             'CUDA\'s caching allocator); every process holds its peak')
    parser.add_argument('--out', default=None, help='write the result JSON here')
    parser.add_argument('--quiet', action='store_true', help='no progress output')
    parser.add_argument('--check-keep-memory', action='store_true',
                        help='only check that --keep-memory stops page faults here (two '
                             'processes stepping 1.25 GiB each); exit 1 if it does not')
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> dict:
    args = parse_args(argv)
    warnings.filterwarnings('ignore')
    if args.check_keep_memory:
        from benchmarks.harness.isolated import check_keep_memory
        check = check_keep_memory()
        print(f"keep-memory check: worst step after warm-up faults in {check['default_faults']} "
              f"pages with glibc's defaults, {check['keep_memory_faults']} with --keep-memory "
              f"(of {check['pages_per_step']} per step; needs > 50 % and < 2 %): "
              f"{'ok' if check['ok'] else 'FAILED'}")
        sys.exit(0 if check['ok'] else 1)
    import torch
    if args.threads:
        torch.set_num_threads(args.threads)
    arch_text = args.arch if args.arch is not None else DEFAULT_ARCH[args.family]
    try:
        arch = parse_arch(args.family, arch_text)
    except ValueError as error:
        sys.exit(f'error: {error}')
    config = BenchmarkConfig(
        family=args.family, arch=arch, depth=float(args.depth),
        batch_size=args.batch_size, img_size=args.img_size, device=args.device,
        dtype=args.dtype, compile=args.compile, repeats=args.repeats, warmup=args.warmup,
        models=tuple(args.models), timer=args.timer, reference=args.reference,
        skip_memory=args.skip_memory,
        skip_train=args.skip_train, skip_infer=args.skip_infer,
        memory_steps=args.memory_steps, seed=args.seed, peak_tflops=args.peak_tflops,
        isolate=args.isolate, keep_memory=args.keep_memory)

    def log(message: str) -> None:
        if not args.quiet:
            print(message, file=sys.stderr, flush=True)

    def save(partial: dict) -> None:
        if args.out:
            atomic_write(args.out, json.dumps(partial, indent=1))
            log(f"  phases {partial['phases_done']} written to {args.out}")

    result = run_benchmark(config, log, on_phase=save)
    shape = result['shape']
    machine = result['machine']
    print(f"{args.family} arch={arch_text} ({shape['num_layers']} -> {shape['scaled_layers']} "
          f"{'blocks' if args.family == 'swin' else 'layers'}, width {shape['embed_dims']}), "
          f"batch {args.batch_size}, {args.img_size}px, "
          f"{args.device} {args.dtype}{' compiled' if args.compile else ''}, "
          f"median of {args.repeats} interleaved rounds after {args.warmup} warm-up, "
          f"{args.timer} time")
    print(f"machine: {machine['cpu']}, {machine['cpu_count']} cores, torch threads "
          f"{machine['torch_threads']}{', ' + machine['gpu'] if 'gpu' in machine else ''}; "
          f"load average start {machine['loadavg_start']} end {machine['loadavg_end']}; "
          f"wall {result['wall_s']:.0f} s")
    labels = {'pretrained': pretrained_label(shape)}
    word = model_word(args.family)
    print(format_table(result['models'], result['reference'], labels, shape))
    print(format_key_ratios(result['models'], word))
    paired = format_paired_ratios(result['models'], word)
    if paired:
        print(paired)
    print(format_throughput(result['models'], result.get('peak_tflops')))
    exported = result['models'].get('exported', {})
    if exported.get('max_abs_diff_vs_scalenet') is not None:
        print(f"exported vs ScaleNet max |logit diff|: {exported['max_abs_diff_vs_scalenet']:.2e}")
    for message in result.get('warnings', []):
        print(f'warning: {message}')
    if args.out:
        save(result)
        print(f'wrote {args.out}')
    return result


if __name__ == '__main__':
    main()
