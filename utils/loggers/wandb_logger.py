"""Weights & Biases: a run per training (YOLOv5's project naming, --entity), metrics per epoch, prediction images every
--bbox_interval epochs, the dataset with --upload_dataset, best.pt/last.pt as model artifacts (--artifact_alias).
WANDB_MODE (online, offline, disabled) and the other WANDB_* variables are wandb's own and apply as usual."""

from __future__ import annotations

from pathlib import Path

from utils.loggers.base import (PREDICTION_IMAGES, ExperimentTracker, FreshFiles, checkpoints, dataset_files,
                                flat_options, project_name, run_images, upload_splits)


def bbox_interval(opt) -> int:
    """YOLOv5's default --bbox_interval -1: every tenth of the run (every epoch for runs of 10 epochs or fewer)."""
    return opt.bbox_interval if opt.bbox_interval > 0 else max(opt.epochs // 10, 1)


class WandbLogger(ExperimentTracker):
    title = "wandb"

    def __init__(self, opt):
        super().__init__(opt)
        self.run = None
        self.fresh = FreshFiles()

    def on_pretrain_routine_end(self, trainer) -> None:
        import wandb

        opt = self.opt
        self.run = wandb.init(project=project_name(opt, "YOLOv5"), entity=opt.entity,
                              name=opt.name if opt.name != "exp" else None, job_type="Training",
                              config=flat_options(opt, trainer.hyp), allow_val_change=True, resume="allow")
        splits = upload_splits(opt.upload_dataset)
        if splits:
            self._upload_dataset(trainer, splits)

    def _upload_dataset(self, trainer, splits: tuple[str, ...]) -> None:
        """--upload_dataset: the split's images and labels as one dataset artifact, the data dict as its metadata."""
        import wandb

        name = Path(str(getattr(self.opt, "data", "") or "dataset")).stem
        artifact = wandb.Artifact(f"{name}_{'_'.join(splits)}", type="dataset",
                                  metadata={k: str(v) for k, v in trainer.data.items()})
        for f, upload_name in dataset_files(trainer.data, splits):
            artifact.add_file(str(f), name=upload_name)
        self.run.log_artifact(artifact, aliases=self._aliases("latest"))

    def on_fit_epoch_end(self, trainer) -> None:
        import wandb

        log = dict(trainer.metrics)
        if (trainer.epoch + 1) % bbox_interval(self.opt) == 0:
            preds = self.fresh(sorted(trainer.save_dir.glob(PREDICTION_IMAGES)))
            if preds:
                log["Bounding Box Debugger/Images"] = [wandb.Image(str(f), caption=f.name) for f in preds]
        self.run.log(log, step=trainer.epoch)
        if trainer.fitness == trainer.best_fitness:  # YOLOv5's best/* summary values
            self.run.summary["best/epoch"] = trainer.epoch
            for k, v in trainer.metrics.items():
                if k.startswith("metrics/"):
                    self.run.summary[f"best/{k.split('/', 1)[1]}"] = v

    def on_model_save(self, trainer) -> None:
        if self.save_period_due(trainer):
            best = ["best"] if trainer.best_fitness == trainer.fitness else []
            aliases = ["last", f"epoch {trainer.epoch + 1}", *best]
            self._log_model([trainer.last], trainer, aliases)

    def on_train_end(self, trainer) -> None:
        import wandb

        if trainer.plots:
            images = run_images(trainer.save_dir)
            if images:
                self.run.log({"Results": [wandb.Image(str(f), caption=f.name) for f in images]}, step=trainer.epoch)
        files = checkpoints(trainer)
        if files:
            self._log_model(files, trainer, ["best", "stripped"])
        self.close(exit_code=0)

    def _aliases(self, *aliases: str) -> list[str]:
        """The given aliases and --artifact_alias, each once."""
        return list(dict.fromkeys([*aliases, self.opt.artifact_alias]))

    def _log_model(self, files: list[Path], trainer, aliases: list[str]) -> None:
        """One model artifact version holding the files, as YOLOv5 names it (run_<id>_model)."""
        import wandb

        artifact = wandb.Artifact(f"run_{self.run.id}_model", type="model", metadata={
            "original_url": str(trainer.save_dir), "epochs_trained": trainer.epoch + 1, "total_epochs": self.opt.epochs,
            "save period": getattr(self.opt, "save_period", -1), "project": str(self.opt.project),
            "fitness_score": trainer.fitness})
        for f in files:
            artifact.add_file(str(f), name=Path(f).name)
        self.run.log_artifact(artifact, aliases=self._aliases("latest", *aliases))

    def close(self, exit_code: int = 1) -> None:
        """Finish the run: exit code 0 after on_train_end, 1 (failed) when training or this tracker stopped before."""
        if self.run is not None:
            run, self.run = self.run, None
            run.finish(exit_code=exit_code)
