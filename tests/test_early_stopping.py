"""EarlyStopping: stop after `patience` epochs without a better fitness; patience 0 never stops."""

from __future__ import annotations

from utils.training.early_stopping import EarlyStopping


def test_stops_after_patience_epochs_without_improvement():
    stopper = EarlyStopping(patience=2)
    assert not stopper(0, 0.5)
    assert not stopper(1, 0.4)
    assert stopper.possible_stop  # the next epoch may be the last one
    assert stopper(2, 0.45)
    assert stopper.best_epoch == 0 and stopper.best_fitness == 0.5


def test_improvement_resets_the_count():
    stopper = EarlyStopping(patience=2)
    for epoch, fi in enumerate([0.1, 0.05, 0.2, 0.1]):
        assert not stopper(epoch, fi)
    assert stopper.best_epoch == 2


def test_zero_patience_disables_stopping():
    stopper = EarlyStopping(patience=0)
    assert not any(stopper(e, 0.0 if e else 1.0) for e in range(50))
