"""Download model-zoo configs and published weights of scalenet_mm: ``mim download``'s interface.

Examples::

    python tools/download.py scalenet_mm --config scalenet-deit-tiny-2x_8xb128_in1k --dest .
    python tools/download.py --config deit-tiny_official_in1k deit-small_official_in1k
    python tools/download.py --config my-model --model-index /tmp/index/model-index.yml

Why this tool and not ``mim download scalenet_mm --config ID``: openmim 0.3.9 reads the model
index into a pandas table, where an entry's ``Weights: null`` becomes NaN, and then calls
``.split(',')`` on it, so it stops with ``AttributeError: 'float' object has no attribute
'split'`` for every entry without published weights (every ScaleNet and detection entry so far),
and mim has no hook to change that. ``tests/tools/test_download.py`` checks that mim still fails
this way; when it stops failing, use ``mim download`` again.

For each config id (the ``Name`` of a ``model-index.yml`` entry; ``mim search scalenet_mm``
lists them), as mim does, the entry's config is read with mmengine's ``Config.fromfile`` and
dumped to ``DEST/<ID>.py``, and its weights go to ``DEST/<file name>``, with two differences:

* the weights come through the project's verified download
  (:func:`scalenet_mm.checkpoint.download_checkpoint`: the sha256 prefix the file name carries is
  checked, the file must load with ``weights_only=True``, it is renamed into place only then, and
  a failure leaves nothing behind); mim checks no hash. A file already in ``DEST`` is checked
  again instead of downloaded again;
* an entry with no published weights is not an error: its config is written and a message says
  that no weights are published and how to get them (train the config; it names the base
  weights it starts from).

Each id is handled completely or not at all: the config is dumped atomically and only after its
weights were verified, so a failed download leaves neither the weights nor the config. An
unknown id stops the tool before anything is written, listing the known ids. Exit status: 0
when every id was handled (published or not), 1 when any failed, 2 for a usage error.
"""
import argparse
import os
import os.path as osp
import sys
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple

PACKAGE = 'scalenet_mm'
#: mim's default destination (``mim.utils.DEFAULT_CACHE_DIR``).
DEFAULT_DEST = osp.join(osp.expanduser('~'), '.cache', 'mim')


@dataclass(frozen=True)
class ZooEntry:
    """One model of the model index, as this tool needs it."""

    name: str
    #: absolute path of the entry's config
    config: str
    #: the published weights URLs (empty: ``Weights: null``, nothing published)
    weights: Tuple[str, ...]
    #: the metafile that lists the entry
    metafile: str


class UsageError(ValueError):
    """The command line asks for something this tool cannot do (exit status 2)."""


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """mim download's options (``PACKAGE``, ``--config``, ``--dest``) plus ``--model-index``."""
    parser = argparse.ArgumentParser(
        description='Download configs and published weights of the scalenet_mm model zoo '
        '(mim download\'s interface; works for entries without published weights)')
    parser.add_argument('package', nargs='?', default=PACKAGE,
                        help=f'the package, for symmetry with mim: only {PACKAGE} (default)')
    parser.add_argument('--config', dest='configs', nargs='+', required=True, metavar='ID',
                        help='config ids (model-index names), e.g. '
                        'scalenet-deit-tiny-2x_8xb128_in1k')
    parser.add_argument('--dest', default=DEFAULT_DEST,
                        help=f'where configs and weights go (default: mim\'s {DEFAULT_DEST})')
    parser.add_argument('--model-index', metavar='PATH',
                        help='read this model-index.yml instead of the installed package\'s '
                        '(for a private zoo or a test; Config paths are relative to its folder)')
    args = parser.parse_args(argv)
    if args.package.lower().replace('-', '_') != PACKAGE:
        parser.error(f'package {args.package!r}: this tool downloads {PACKAGE}\'s models only. '
                     f'For another package use mim itself: mim download {args.package} '
                     f'--config ...')
    return args


def _weights_urls(weights: Any) -> Tuple[str, ...]:
    """An entry's ``Weights`` as a tuple of URLs (mim's convention: a comma-separated string or
    a list; ``null`` or empty: nothing published)."""
    if not weights:
        return ()
    items = weights if isinstance(weights, (list, tuple)) else str(weights).split(',')
    return tuple(url.strip() for url in items if url and url.strip())


def load_entries(index_file: Optional[str] = None) -> Dict[str, ZooEntry]:
    """Every model of a model index (classification and detection), by lower-case name.

    Args:
        index_file: a ``model-index.yml``; default the package's
            (:func:`scalenet_mm.checkpoint.zoo.model_index_file`: the installed ``.mim`` copy,
            else the source tree's). Config paths are resolved against the index's config root
            (the folder of a given index).

    Read with ``modelindex`` as the zoo does. Not through
    :func:`~scalenet_mm.checkpoint.zoo.published_weights`: that knows only the entries registered
    with mmpretrain's ModelHub (classification), while mim, and so this tool, serve every entry.

    Raises:
        FileNotFoundError: when the index file does not exist.
    """
    from modelindex.load_model_index import load

    from scalenet_mm.checkpoint.zoo import model_index_file

    if index_file is None:
        index_file, config_root = model_index_file()
    else:
        index_file = osp.abspath(osp.expanduser(index_file))
        config_root = osp.dirname(index_file)
    if not osp.isfile(index_file):
        raise FileNotFoundError(f'the model index {index_file} does not exist; give the path of '
                                f'a model-index.yml with --model-index, or reinstall {PACKAGE}')
    model_index = load(index_file)
    model_index.build_models_with_collections()
    entries = {}
    for model in model_index.models:
        config = model.config or ''
        if config and not osp.isabs(config):
            config = osp.join(config_root, config)
        entries[model.name.lower()] = ZooEntry(
            name=model.name, config=osp.abspath(config) if config else '',
            weights=_weights_urls(model.weights), metafile=str(model.filepath or index_file))
    return entries


def select_entries(entries: Dict[str, ZooEntry], ids: Sequence[str]) -> List[ZooEntry]:
    """The entries of ``ids`` in the order given (case-insensitive, duplicates once).

    Raises:
        UsageError: naming every unknown id and listing the known ones.
    """
    unknown = [i for i in ids if i.lower() not in entries]
    if unknown:
        known = '\n  '.join(sorted(e.name for e in entries.values()))
        raise UsageError(f'unknown config id(s) {unknown}; nothing was written. The model '
                         f'index has:\n  {known}\n(`mim search {PACKAGE}` lists them with '
                         f'their metrics.)')
    chosen: Dict[str, ZooEntry] = {}
    for config_id in ids:
        chosen.setdefault(config_id.lower(), entries[config_id.lower()])
    return list(chosen.values())


def base_weights(cfg: Any, prefix: str = 'model') -> List[Tuple[str, str]]:
    """``(config key, checkpoint)`` of every pretrained checkpoint a config starts from: the
    ``init_cfg=dict(type='Pretrained', checkpoint=...)`` in ``cfg.model`` and ``load_from``."""
    found: List[Tuple[str, str]] = []

    def walk(node: Any, key: str) -> None:
        if isinstance(node, dict):
            if node.get('type') == 'Pretrained' and node.get('checkpoint'):
                found.append((f'{key}.checkpoint', str(node['checkpoint'])))
            for name, value in node.items():
                walk(value, f'{key}.{name}')
        elif isinstance(node, (list, tuple)):
            for index, value in enumerate(node):
                walk(value, f'{key}[{index}]')

    walk(cfg.get(prefix), prefix)
    if cfg.get('load_from'):
        found.append(('load_from', str(cfg.load_from)))
    return found


def unpublished_message(entry: ZooEntry, config_out: str, cfg: Any) -> str:
    """What a user is told for an entry without weights: what happened and what to do."""
    starts = base_weights(cfg)
    if starts:
        start = 'It starts from the base weights ' + '; '.join(
            f'{url} ({key})' for key, url in starts) + ', downloaded and verified when ' \
            'training starts.'
    else:
        start = 'It names no base weights: it trains from random initialisation.'
    return (f'{entry.name}: no weights are published for this entry (Weights: null in '
            f'{entry.metafile}), so none were downloaded; its config was written to '
            f'{config_out}.\n  To get weights, train it: python tools/train.py {config_out} '
            f'(or: mim train {PACKAGE} {config_out}; add --amp, or use tools/dist_train.sh for '
            f'several GPUs). {start}')


def fetch_weights(url: str, dest: str) -> Tuple[str, bool]:
    """Put the weights of ``url`` into ``dest`` through the verified download; return the path
    and whether the file was already there (then it is verified again, not downloaded).

    Raises:
        DownloadError: not an http(s) URL, unreachable, HTTP error, wrong sha256 prefix
            (nothing left in ``dest``).
        UnsafeCheckpointError, CheckpointFormatError: the file is not a weights-only
            checkpoint (deleted).
    """
    from scalenet_mm.checkpoint import DownloadError, download_checkpoint
    from scalenet_mm.checkpoint.download import HTTP_PREFIXES, cache_path_for

    if not url.startswith(HTTP_PREFIXES):
        raise DownloadError(f'the weights {url!r} are not an http(s) URL; load that file '
                            f'directly instead (init_cfg / load_from / tools/test.py)')
    path = cache_path_for(url, dest)
    existed = osp.isfile(path)
    checkpoint = download_checkpoint(url, model_dir=dest, map_location='cpu')
    del checkpoint  # loaded only to verify it (weights only)
    return path, existed


def download_entry(entry: ZooEntry, dest: str) -> str:
    """Handle one entry: verified weights (if published) into ``dest``, then its config dumped
    to ``dest/<name>.py``; return the report for the user.

    The config is read first (a broken config writes nothing) and written last, atomically, so
    that a failure leaves nothing of this entry: weights downloaded by this call are removed
    again when a later step fails.
    """
    from mmengine.config import Config

    from scalenet_mm.engine.atomic_checkpoint import atomic_write

    if not entry.config or not osp.isfile(entry.config):
        raise FileNotFoundError(f'{entry.name}: its config {entry.config or "(none)"} (listed in '
                                f'{entry.metafile}) does not exist; reinstall {PACKAGE} or fix '
                                f'the Config field of the entry')
    cfg = Config.fromfile(entry.config)
    config_out = osp.join(dest, f'{entry.name}.py')
    lines, new_files = [], []
    try:
        for url in entry.weights:
            path, existed = fetch_weights(url, dest)
            if existed:
                lines.append(f'{osp.basename(path)} exists in {dest} (sha256 prefix and '
                             f'weights-only load checked)')
            else:
                new_files.append(path)
                lines.append(f'Successfully downloaded {osp.basename(path)} to {dest} '
                             f'(verified)')
        # What Config.dump(<file>.py) writes (mim's call); through the atomic write instead.
        atomic_write(config_out, cfg.pretty_text)
    except BaseException:
        for path in new_files:
            if osp.isfile(path):
                os.remove(path)
        raise
    lines.append(f'Successfully dumped {entry.name}.py to {dest}')
    if not entry.weights:
        lines.append(unpublished_message(entry, config_out, cfg))
    return '\n'.join(lines)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the tool; return the exit status (see the module docstring)."""
    args = parse_args(argv)
    import scalenet_mm  # noqa: F401  (scalenet_mm:: base configs resolve after the import)
    from mmengine.logging import MMLogger

    from scalenet_mm.checkpoint import CheckpointError, DownloadError

    try:
        chosen = select_entries(load_entries(args.model_index), args.configs)
    except (UsageError, FileNotFoundError) as err:
        print(f'error: {err}', file=sys.stderr)
        return 2
    dest = osp.abspath(osp.expanduser(args.dest))
    created = not osp.exists(dest)
    MMLogger.get_current_instance()  # the downloader's progress lines go to mmengine's logger
    failures = 0
    for entry in chosen:
        print(f'processing {entry.name}...')
        try:
            print(download_entry(entry, dest))
        except (DownloadError, CheckpointError, OSError) as err:
            failures += 1
            print(f'error: {entry.name}: {err}', file=sys.stderr)
    if created and osp.isdir(dest) and not os.listdir(dest):
        os.rmdir(dest)  # nothing was written: leave no empty destination behind
    if failures:
        print(f'error: {failures} of {len(chosen)} config id(s) failed; nothing of them was '
              f'left in {dest}', file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
