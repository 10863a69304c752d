"""YOLOv5's `utils.augmentations` import path, kept so users' scripts run unchanged; re-exports only, the code lives elsewhere."""

from utils.data.augmentations import (Albumentations, augment_hsv, box_candidates, copy_paste, letterbox,  # noqa: F401
                                      mixup, random_perspective)
from utils.data.classify_transforms import (CenterCrop, ToTensor, classify_train_transforms,  # noqa: F401, E402
                                            classify_transforms)
