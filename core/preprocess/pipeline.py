"""One call that prepares a scanner image for the models: overlays inpainted, banner masked, fan found.

Why one function: the dashboard's analysis, the level set and the benchmark must all see the same cleaned
image; a dataclass result keeps what was done (overlay mask, banner height, fan box) so a page can show it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.preprocess.fan import Box, banner_rows, bounding_box, fan_mask, mask_banner
from core.preprocess.normalize import to_gray, to_uint8
from core.preprocess.overlays import remove_overlays


@dataclass(frozen=True)
class Preprocessed:
    """The cleaned full-size image and what preprocessing found (all in original pixel coordinates)."""

    image: np.ndarray          # uint8, same layout and size as the input, overlays inpainted, banner black
    overlay: np.ndarray        # bool HxW, pixels that were inpainted
    banner_rows: int           # top rows masked as text banner
    fan: np.ndarray            # bool HxW, the ultrasound fan
    fan_box: Box               # (x0, y0, x1, y1) of the fan

    @property
    def gray(self) -> np.ndarray:
        return to_gray(self.image)

    @property
    def cropped(self) -> np.ndarray:
        x0, y0, x1, y1 = self.fan_box
        return self.image[y0:y1, x0:x1]


def preprocess(image, *, inpaint_overlays: bool = True, mask_text: bool = True,
               inpaint_radius: float = 3.0) -> Preprocessed:
    """Inpaint coloured overlays, mask the text banner and find the fan of one image (HxW or HxWx3)."""
    if inpaint_overlays:
        clean, overlay = remove_overlays(image, radius=inpaint_radius)
    else:
        clean = to_uint8(image).copy()
        overlay = np.zeros(clean.shape[:2], dtype=bool)
    fan = fan_mask(clean)
    rows = banner_rows(clean, fan=fan) if mask_text else 0
    if rows:
        clean = mask_banner(clean, rows)
        fan = fan.copy()
        fan[:rows] = False
        if not fan.any():
            fan = fan_mask(clean)
    return Preprocessed(image=clean, overlay=overlay, banner_rows=rows, fan=fan, fan_box=bounding_box(fan))
