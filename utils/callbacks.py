"""Training hooks: plug-ins (run loggers, experiment trackers, distillation) attach here instead of into the loop.

Every hook is called with the Trainer as its only argument; a plug-in reads what it needs from it (see
docs/architecture.md for the attributes each hook can rely on). Hook names are YOLOv5's.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any, Callable

HOOKS = (
    "on_pretrain_routine_start",  # before data and model are set up
    "on_pretrain_routine_end",  # model, data, optimizer ready; nothing trained yet
    "on_train_start",  # right before the first epoch
    "on_train_epoch_start",
    "on_train_batch_start",
    "on_train_batch_end",  # after the batch's backward (and optimizer step when one was due)
    "on_train_epoch_end",  # after the scheduler step, before validation
    "on_val_start",
    "on_val_end",  # trainer.metrics holds this epoch's validation results
    "on_fit_epoch_end",  # the epoch's results.csv row is in trainer.metrics
    "on_model_save",  # last.pt (and best.pt when it improved) were written
    "on_train_end",  # best.pt validated, plots written
    "teardown",  # always, also after an error: release files, sessions, network handles
)


class Callbacks:
    """Named lists of callables per hook; `run` calls them in registration order."""

    def __init__(self):
        self._actions: dict[str, list[tuple[str, Callable]]] = defaultdict(list)

    def register_action(self, hook: str, name: str = "", callback: Callable[[Any], None] | None = None) -> None:
        if hook not in HOOKS:
            raise ValueError(f"unknown callback hook '{hook}', use one of {', '.join(HOOKS)}")
        if not callable(callback):
            raise TypeError(f"callback for '{hook}' must be callable, got {type(callback).__name__}")
        self._actions[hook].append((name, callback))

    def register(self, plugin: object) -> None:
        """Attach each method of `plugin` whose name is a hook (an object with on_fit_epoch_end, ...)."""
        for hook in HOOKS:
            fn = getattr(plugin, hook, None)
            if callable(fn):
                self.register_action(hook, type(plugin).__name__, fn)

    def get_registered_actions(self, hook: str | None = None):
        return self._actions[hook] if hook else dict(self._actions)

    def run(self, hook: str, *args, **kwargs) -> None:
        if hook not in HOOKS:
            raise ValueError(f"unknown callback hook '{hook}'")
        for _, fn in self._actions.get(hook, ()):
            fn(*args, **kwargs)
