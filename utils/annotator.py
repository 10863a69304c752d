"""Draw detections on images: class colours, boxes, labels and masks that stay readable at any image size."""

from __future__ import annotations

import colorsys
from pathlib import Path

import cv2
import matplotlib
import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

FONT_FILE = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"  # ships with matplotlib


def _palette(n: int = 20) -> list[tuple[int, int, int]]:
    """n saturated RGB colours with hues spread by the golden ratio, so neighbouring class ids differ."""
    rgb = []
    for i in range(n):
        r, g, b = colorsys.hsv_to_rgb((i * 0.618033988749895) % 1.0, 0.85, 0.95)
        rgb.append((round(r * 255), round(g * 255), round(b * 255)))
    return rgb


_PALETTE = _palette()


def colors(i: int, bgr: bool = False) -> tuple[int, int, int]:
    """Colour of class i (RGB, or BGR for OpenCV drawing); the palette repeats every 20 classes."""
    c = _PALETTE[int(i) % len(_PALETTE)]
    return (c[2], c[1], c[0]) if bgr else c


def is_ascii(s: object) -> bool:
    """True when str(s) can be drawn with OpenCV's Hershey fonts (ASCII only)."""
    return all(ord(c) < 128 for c in str(s))


def load_font(size: int) -> ImageFont.FreeTypeFont:
    """matplotlib's bundled DejaVuSans at the given pixel size; never downloads anything."""
    return ImageFont.truetype(str(FONT_FILE), max(int(size), 1))


class Annotator:
    """Draws boxes and labels on an image with OpenCV (fast, in place) or PIL (any Unicode label)."""

    def __init__(self, im: np.ndarray | Image.Image, line_width: int | None = None, font_size: int | None = None,
                 pil: bool = False, example: object = "abc"):
        self.pil = pil or not is_ascii(example) or isinstance(im, Image.Image)
        if self.pil:
            self.im = im if isinstance(im, Image.Image) else Image.fromarray(np.ascontiguousarray(im))
            self.draw = ImageDraw.Draw(self.im)
            size = font_size or round(sum(self.im.size) / 2 * 0.035)
            self.font = load_font(max(size, 12))
            self.lw = line_width or max(round(sum(self.im.size) / 2 * 0.003), 2)
        else:
            if not isinstance(im, np.ndarray) or not im.flags.c_contiguous:
                raise ValueError("Annotator(pil=False) draws in place and needs a contiguous numpy image; "
                                 "pass np.ascontiguousarray(im)")
            self.im = im
            self.lw = line_width or max(round(sum(im.shape[:2]) / 2 * 0.003), 2)

    def box_label(self, box, label: str = "", color: tuple = (128, 128, 128),
                  txt_color: tuple = (255, 255, 255)) -> None:
        """Outline an xyxy box and write label on a filled tag above it (inside it at the top edge)."""
        x1, y1, x2, y2 = (float(v) for v in box[:4])
        if self.pil:
            self._box_label_pil((x1, y1, x2, y2), label, color, txt_color)
        else:
            self._box_label_cv2((int(x1), int(y1), int(x2), int(y2)), label, color, txt_color)

    def _box_label_pil(self, box: tuple, label: str, color: tuple, txt_color: tuple) -> None:
        self.draw.rectangle(box, width=self.lw, outline=color)
        if not label:
            return
        left, top, right, bottom = self.font.getbbox(label)
        w, h = right - left, bottom
        above = box[1] - h >= 0
        y0 = box[1] - h if above else box[1]
        self.draw.rectangle((box[0], y0, box[0] + w + 1, y0 + h + 1), fill=color)
        self.draw.text((box[0], y0), label, fill=txt_color, font=self.font)

    def _box_label_cv2(self, box: tuple, label: str, color: tuple, txt_color: tuple) -> None:
        p1, p2 = (box[0], box[1]), (box[2], box[3])
        cv2.rectangle(self.im, p1, p2, color, thickness=self.lw, lineType=cv2.LINE_AA)
        if not label:
            return
        tf = max(self.lw - 1, 1)  # text stroke
        scale = self.lw / 3
        (w, h), _ = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, fontScale=scale, thickness=tf)
        above = p1[1] - h >= 3
        tag_end = (p1[0] + w, p1[1] - h - 3 if above else p1[1] + h + 3)
        cv2.rectangle(self.im, p1, tag_end, color, -1, cv2.LINE_AA)
        baseline_y = p1[1] - 2 if above else p1[1] + h + 2
        cv2.putText(self.im, label, (p1[0], baseline_y), cv2.FONT_HERSHEY_SIMPLEX, scale, txt_color,
                    thickness=tf, lineType=cv2.LINE_AA)

    def masks(self, masks: torch.Tensor, colors: list[tuple], im_gpu: torch.Tensor, alpha: float = 0.5,
              retina_masks: bool = False) -> None:
        """Paint binary masks (n, h, w) in their BGR colours over im_gpu (3, h, w RGB in [0, 1], the image they were
        made for), as YOLOv5 v7.0: each mask at alpha, an earlier mask over a later one; the result replaces the
        image, scaled to it from a letterboxed input unless retina_masks (masks already at the image's size)."""
        from utils.masks import scale_image

        if not len(masks):
            return
        colour = torch.tensor(colors, device=im_gpu.device, dtype=torch.float32)[:, None, None] / 255  # (n, 1, 1, 3)
        masks = masks.unsqueeze(3).float()  # (n, h, w, 1)
        uncovered = (1 - masks * alpha).cumprod(0)  # share of each pixel left after masks 0..k
        paint = (masks * colour * alpha * uncovered).sum(0) * 2
        im = im_gpu.flip(0).permute(1, 2, 0).float() * uncovered[-1] + paint  # BGR
        im = (im * 255).byte().cpu().numpy()
        canvas = np.asarray(self.im) if self.pil else self.im
        im = im if retina_masks else scale_image(im.shape, im, canvas.shape)
        if self.pil:
            self.fromarray(np.ascontiguousarray(im))
        else:
            self.im[:] = im

    def rectangle(self, xy, fill: tuple | None = None, outline: tuple | None = None, width: int = 1) -> None:
        """A plain rectangle (mosaic tile borders, highlights)."""
        if self.pil:
            self.draw.rectangle(xy, fill=fill, outline=outline, width=width)
            return
        p1, p2 = (int(xy[0]), int(xy[1])), (int(xy[2]), int(xy[3]))
        if fill is not None:
            cv2.rectangle(self.im, p1, p2, fill, -1)
        if outline is not None:
            cv2.rectangle(self.im, p1, p2, outline, width)

    def text(self, xy, text: str, txt_color: tuple = (255, 255, 255), anchor: str = "top") -> None:
        """Write text with its top-left (anchor 'top') or bottom-left (anchor 'bottom') corner at xy."""
        x, y = int(xy[0]), int(xy[1])
        if self.pil:
            if anchor == "bottom":
                y -= self.font.getbbox(text)[3]
            self.draw.text((x, y), text, fill=txt_color, font=self.font)
            return
        tf = max(self.lw - 1, 1)
        scale = self.lw / 3
        (_, h), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, fontScale=scale, thickness=tf)
        baseline_y = y if anchor == "bottom" else y + h
        cv2.putText(self.im, text, (x, baseline_y), cv2.FONT_HERSHEY_SIMPLEX, scale, txt_color,
                    thickness=tf, lineType=cv2.LINE_AA)

    def fromarray(self, im: np.ndarray) -> None:
        """Replace the PIL canvas with a numpy image (after drawing on it outside the Annotator)."""
        self.im = im if isinstance(im, Image.Image) else Image.fromarray(im)
        self.draw = ImageDraw.Draw(self.im)

    def result(self) -> np.ndarray:
        """The annotated image as a numpy array (the same array in OpenCV mode)."""
        return np.asarray(self.im) if self.pil else self.im
