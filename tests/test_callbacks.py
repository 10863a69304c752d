"""utils/callbacks.py: YOLOv5's hook names, registration checks, plug-ins attached by their method names."""

from __future__ import annotations

import pytest

from utils.callbacks import HOOKS, Callbacks


def test_actions_run_in_registration_order_with_the_trainer():
    cb, calls = Callbacks(), []
    cb.register_action("on_fit_epoch_end", "a", lambda t: calls.append(("a", t)))
    cb.register_action("on_fit_epoch_end", "b", lambda t: calls.append(("b", t)))
    cb.run("on_fit_epoch_end", "trainer")
    cb.run("on_train_end", "trainer")  # no action: nothing happens
    assert calls == [("a", "trainer"), ("b", "trainer")]
    assert [name for name, _ in cb.get_registered_actions("on_fit_epoch_end")] == ["a", "b"]


def test_unknown_hooks_and_non_callables_are_refused():
    cb = Callbacks()
    with pytest.raises(ValueError, match="unknown callback hook 'on_epoch_done'"):
        cb.register_action("on_epoch_done", "x", print)
    with pytest.raises(TypeError, match="must be callable"):
        cb.register_action("on_train_end", "x", 3)
    with pytest.raises(ValueError, match="unknown callback hook"):
        cb.run("on_epoch_done")


def test_a_plugin_attaches_each_method_named_for_a_hook():
    class Plugin:
        def __init__(self):
            self.seen = []

        def on_train_start(self, trainer):
            self.seen.append("start")

        def teardown(self, trainer):
            self.seen.append("teardown")

        def helper(self, trainer):  # not a hook name: never attached
            self.seen.append("helper")

    p, cb = Plugin(), Callbacks()
    cb.register(p)
    for hook in HOOKS:
        cb.run(hook, None)
    assert p.seen == ["start", "teardown"]
    assert HOOKS[0] == "on_pretrain_routine_start" and "on_model_save" in HOOKS
