"""YOLOv5's `utils.dataloaders` import path, kept so users' scripts run unchanged; re-exports only, the code lives elsewhere."""

from utils.data.datasets import LoadImagesAndLabels  # noqa: F401
from utils.data.image_files import IMG_FORMATS, VID_FORMATS, img2label_paths  # noqa: F401
from utils.data.loaders import InfiniteDataLoader, create_dataloader  # noqa: F401
from utils.inference.sources import LoadImages, LoadStreams  # noqa: F401
from utils.data.classify_dataset import ClassificationDataset, create_classification_dataloader  # noqa: F401, E402
