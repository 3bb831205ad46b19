"""Annotated copies of the input: a box, label and score per detection, drawn with Pillow.

Each class gets a saturated colour; the box is outlined in black first then in colour, and the
label sits on a filled tag with black or white text chosen by the tag's luminance, so the
annotations read on dark and on light images alike.
"""
from __future__ import annotations

import colorsys
import os
from typing import Sequence

from PIL import Image, ImageDraw, ImageFont

from .results import Detection

_FONT_CANDIDATES = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",  # Debian, and Yocto's ttf-dejavu-sans
    "/usr/share/fonts/ttf/DejaVuSans.ttf",
)


def class_colour(class_id: int) -> tuple:
    """A stable, saturated colour per class (golden-ratio hue steps keep neighbours apart)."""
    hue = (class_id * 0.618033988749895) % 1.0
    red, green, blue = colorsys.hsv_to_rgb(hue, 0.85, 0.95)
    return int(red * 255), int(green * 255), int(blue * 255)


def _text_colour(background: tuple) -> tuple:
    luminance = 0.299 * background[0] + 0.587 * background[1] + 0.114 * background[2]
    return (0, 0, 0) if luminance > 140 else (255, 255, 255)


def _font(size: int):
    for path in _FONT_CANDIDATES:
        if os.path.exists(path):
            return ImageFont.truetype(path, size)
    return ImageFont.load_default()  # small bitmap font: boards without fonts still get labels


def annotate(image: Image.Image, detections: Sequence[Detection]) -> Image.Image:
    """A copy of `image` (RGB) with the detections drawn on it."""
    annotated = image.convert("RGB")
    draw = ImageDraw.Draw(annotated)
    line = max(2, round(min(annotated.size) / 200))
    font = _font(max(12, round(min(annotated.size) / 30)))
    for detection in detections:
        colour = class_colour(detection.class_id)
        box = [round(v) for v in detection.box.as_list()]
        draw.rectangle(box, outline=(0, 0, 0), width=line + 2)
        draw.rectangle(box, outline=colour, width=line)
        text = f"{detection.label} {detection.score:.2f}"
        left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
        tag_width, tag_height = right - left + 2 * line, bottom - top + 2 * line
        tag_x = min(max(box[0], 0), max(annotated.width - tag_width, 0))
        tag_y = box[1] - tag_height if box[1] - tag_height >= 0 else box[1]
        draw.rectangle([tag_x, tag_y, tag_x + tag_width, tag_y + tag_height], fill=colour)
        draw.text((tag_x + line - left, tag_y + line - top), text, fill=_text_colour(colour), font=font)
    return annotated


def annotated_path(output_dir: str, image_path: str) -> str:
    """Same file name in `output_dir`; formats Pillow writes poorly become PNG."""
    name = os.path.basename(image_path)
    stem, extension = os.path.splitext(name)
    if extension.lower() not in (".jpg", ".jpeg", ".png", ".bmp"):
        name = f"{stem}.png"
    return os.path.join(output_dir, name)
