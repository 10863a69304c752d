"""--patience: stop training when the fitness has not improved for a number of epochs."""

from __future__ import annotations

from utils.logger import LOGGER


class EarlyStopping:
    """Tracks the best fitness epoch; patience 0 disables stopping."""

    def __init__(self, patience: int = 30):
        self.best_fitness = 0.0
        self.best_epoch = 0
        self.patience = patience or float("inf")
        self.possible_stop = False  # the next epoch may be the last: train.py then treats it as final

    def __call__(self, epoch: int, fitness: float) -> bool:
        """Record this epoch's fitness; True when training should stop now."""
        if fitness >= self.best_fitness:  # >= so that a flat zero start counts as improving
            self.best_epoch, self.best_fitness = epoch, fitness
        delta = epoch - self.best_epoch
        self.possible_stop = delta >= self.patience - 1
        stop = delta >= self.patience
        if stop:
            LOGGER.info(f"Stopping training early as no improvement observed in last {self.patience} epochs. "
                        f"Best results observed at epoch {self.best_epoch}, best model saved as best.pt.\n"
                        f"To update EarlyStopping(patience={self.patience}) pass a new patience value, "
                        f"i.e. `python train.py --patience 300` or use `--patience 0` to disable EarlyStopping.")
        return stop
