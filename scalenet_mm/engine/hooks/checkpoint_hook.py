"""``SafeCheckpointHook``: mmengine's CheckpointHook made safe to kill and exact to resume.

mmengine 0.10.7's ``CheckpointHook`` has three gaps this subclass closes:

1. It deletes the oldest kept checkpoint (``max_keep_ckpts``) *before* writing the new one,
   and writes the ``last_checkpoint`` pointer with a plain ``open(..., 'w')``. A process
   killed in between leaves a pointer naming a deleted file (with ``max_keep_ckpts=1``) or an
   empty pointer, and ``--resume`` fails. Here the new checkpoint is written first (atomically,
   see :mod:`scalenet_mm.engine.atomic_checkpoint`), then the pointer (atomically), and only
   then are outdated checkpoints deleted: at every instant the pointer names a complete file.
2. Temporary files of a writer that was killed are removed when training starts again.
3. Checkpoints do not hold the random-generator states, so a resumed run draws other dropout
   masks / augmentations than an uninterrupted one. Each checkpoint this hook writes holds
   every rank's generator states (``checkpoint['rng_state']``); on resume they are restored
   right before the first batch that is trained again (after the loop has skipped the batches
   already trained), so the resumed run continues exactly. Validation draws from saved-and-
   restored generators, so running it (or not) never changes the training stream.

4. mmengine writes the checkpoint itself with a plain ``open(path, 'wb')``. For a local
   work dir (and no ``backend_args`` of the user's) this hook asks mmengine for the atomic
   local backend by its own name (``backend_args=dict(backend='scalenet_atomic_local')``),
   so its checkpoints are written atomically without changing mmengine's backend for any
   other file.
5. On torch >= 2.6 mmengine cannot resume its own checkpoints (``weights_only``). Before the
   run starts (``before_run``, before the Runner resumes) this hook trusts the run's work
   dir for the scoped resume loader (:func:`scalenet_mm.runtime.checkpoint_loading.trust_run`,
   which also makes that loader mmengine's local one if :func:`scalenet_mm.runtime.install`
   has not), and undoes both after the run. Files outside the work dir still load
   weights-only.

The hook is registered under its own name only: a config switches it on with
``default_hooks.checkpoint = dict(type='SafeCheckpointHook', ...)`` (the project's configs
do); ``type='CheckpointHook'`` keeps mmengine's hook. Its arguments are exactly mmengine's.
"""
from typing import Any, Dict, Iterator, List, Optional

from mmengine.dist import all_gather_object, get_rank, get_world_size, is_main_process
from mmengine.hooks import CheckpointHook
from mmengine.runner.loops import IterBasedTrainLoop

from ...registry import register_hook
from .. import rng_state
from ..atomic_checkpoint import ATOMIC_BACKEND, atomic_write, remove_stale_temporaries

#: Checkpoint key holding ``dict(iter=<runner.iter>, ranks=[<state of rank 0>, ...])``.
RNG_KEY = 'rng_state'
#: Name of the pointer file mmengine's ``find_latest_checkpoint`` reads.
POINTER_NAME = 'last_checkpoint'


class _RestoreBeforeNextBatch:
    """Iterator proxy: pass ``skip`` batches through, then restore the generators and unwrap.

    ``IterBasedTrainLoop.run`` re-reads the ``skip`` batches already trained before the
    first new one; the generators must be restored after that replay, right before the
    batch the interrupted run would have drawn next.
    """

    def __init__(self, loop: IterBasedTrainLoop, skip: int, state: Dict[str, Any]) -> None:
        self._loop = loop
        self._inner = loop.dataloader_iterator
        self._remaining = skip
        self._state = state

    def __iter__(self) -> Iterator:
        return self

    def __next__(self) -> Any:
        if self._remaining > 0:
            self._remaining -= 1
            return next(self._inner)
        rng_state.restore(self._state)
        self._loop.dataloader_iterator = self._inner
        return next(self._inner)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


@register_hook
class SafeCheckpointHook(CheckpointHook):
    """mmengine's ``CheckpointHook`` with kill-safe saving and exact resume (see module doc).

    Takes exactly the arguments of :class:`mmengine.hooks.CheckpointHook`.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._rng_to_save: Optional[Dict[str, Any]] = None
        self._rng_loaded: Optional[Dict[str, Any]] = None
        self._rng_before_val: Optional[Dict[str, Any]] = None

    # ------------------------------------------------------------------ start / resume
    def before_run(self, runner) -> None:
        """Let the Runner resume its own checkpoints (module docstring, point 5)."""
        from ...runtime.checkpoint_loading import trust_run
        super().before_run(runner)
        self._untrust = trust_run(runner.work_dir)

    def after_run(self, runner) -> None:
        """Stop trusting the work dir once the run is over."""
        super().after_run(runner)
        undo, self._untrust = getattr(self, '_untrust', None), None
        if undo is not None:
            undo()

    def before_train(self, runner) -> None:
        """Set up as mmengine does (atomic backend for local dirs), drop stale temporaries,
        schedule the generator restore."""
        if self.backend_args is None and self.file_client_args is None \
                and '://' not in str(self.out_dir or runner.work_dir):
            self.backend_args = dict(backend=ATOMIC_BACKEND)
        super().before_train(runner)
        if is_main_process():
            for path in remove_stale_temporaries(self.out_dir):
                runner.logger.info(f'Removed {path}, a checkpoint a killed run left unfinished.')
        self._schedule_rng_restore(runner)

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        """Keep the loaded generator states until training starts (see ``before_train``)."""
        self._rng_loaded = checkpoint.get(RNG_KEY)

    def _schedule_rng_restore(self, runner) -> None:
        """Restore this rank's generators at the point the interrupted run had reached."""
        saved, self._rng_loaded = self._rng_loaded, None
        if not saved or saved.get('iter') != runner.iter or runner.iter == 0:
            return  # not resuming (load_from, or a fresh run): keep the seeded generators
        ranks: List[Dict[str, Any]] = saved['ranks']
        if len(ranks) != get_world_size():
            runner.logger.warning(
                f'The checkpoint holds random-generator states of {len(ranks)} processes and '
                f'this run has {get_world_size()}: training continues with freshly seeded '
                f'generators, so it will not repeat the interrupted run exactly.')
            return
        state = ranks[get_rank()]
        loop = runner.train_loop
        if isinstance(loop, IterBasedTrainLoop):
            loop.dataloader_iterator = _RestoreBeforeNextBatch(loop, runner.iter, state)
        else:
            rng_state.restore(state)

    # ------------------------------------------------------------------ validation
    def before_val(self, runner) -> None:
        """Remember the generators so validation cannot change the training stream."""
        self._rng_before_val = rng_state.capture()

    def after_val(self, runner) -> None:
        """Give training back the generators as they were before validation."""
        if self._rng_before_val is not None:
            rng_state.restore(self._rng_before_val)
            self._rng_before_val = None

    # ------------------------------------------------------------------ saving
    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        """Add the generator states gathered for this save (only this hook's own saves)."""
        if self._rng_to_save is not None:
            checkpoint[RNG_KEY] = self._rng_to_save

    def _save_checkpoint_with_step(self, runner, step: int, meta: dict) -> None:
        """Save ``step``'s checkpoint, then point at it, then delete outdated ones.

        Same files, names and message-hub entries as mmengine; only the order differs so a
        kill at any instant leaves ``last_checkpoint`` naming a complete checkpoint.
        """
        outdated: Optional[int] = None
        if self.max_keep_ckpts > 0 and not (self.keep_ckpt_ids
                                            and self.keep_ckpt_ids[-1] == step):
            if len(self.keep_ckpt_ids) == self.max_keep_ckpts:
                outdated = self.keep_ckpt_ids.popleft()
            self.keep_ckpt_ids.append(step)
            runner.message_hub.update_info('keep_ckpt_ids', list(self.keep_ckpt_ids))

        ckpt_filename = self.filename_tmpl.format(step)
        self.last_ckpt = self.file_backend.join_path(self.out_dir, ckpt_filename)
        runner.message_hub.update_info('last_ckpt', self.last_ckpt)

        # Every rank's generators, gathered on every rank (a collective), saved by rank 0.
        states = [rng_state.capture()]
        if get_world_size() > 1:
            states = all_gather_object(states[0])
        self._rng_to_save = dict(iter=meta['iter'], ranks=states)
        try:
            runner.save_checkpoint(
                self.out_dir,
                ckpt_filename,
                self.file_client_args,
                save_optimizer=self.save_optimizer,
                save_param_scheduler=self.save_param_scheduler,
                meta=meta,
                by_epoch=self.by_epoch,
                backend_args=self.backend_args,
                **self.args)
        finally:
            self._rng_to_save = None

        if not is_main_process():
            return
        runner_dir = runner.work_dir
        atomic_write(f'{runner_dir}/{POINTER_NAME}', str(self.last_ckpt))
        if outdated is not None:
            self._remove_checkpoint(outdated)

    def _remove_checkpoint(self, step: int) -> None:
        """Delete the checkpoint of ``step`` (a file, or a directory for DeepSpeed)."""
        path = self.file_backend.join_path(self.out_dir, self.filename_tmpl.format(step))
        if self.file_backend.isfile(path):
            self.file_backend.remove(path)
        elif self.file_backend.isdir(path):
            self.file_backend.rmtree(path)

