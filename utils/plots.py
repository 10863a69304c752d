"""YOLOv5's `utils.plots` import path, kept so users' scripts run unchanged; re-exports only, the code lives elsewhere."""

from utils.annotator import Annotator, colors  # noqa: F401
from utils.evaluation.plots import (feature_visualization, output_to_target, plot_images, plot_labels,  # noqa: F401
                                    plot_results, save_one_box)
