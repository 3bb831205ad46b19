"""Annotated copies of the input: a box, label and score per detection, drawn with Pillow.

Each class gets a saturated colour; the box is outlined in black first then in colour, and the
label sits on a filled tag with black or white text chosen by the tag's luminance, so the
annotations read on dark and on light images alike. Tags are drawn after every box and placed so
that the tags of crowded boxes do not cover each other. Stills and the live mode's annotated video
share this code.
"""
from __future__ import annotations

import colorsys
import functools
import math
import os
from typing import Dict, List, Optional, Sequence, Tuple

from PIL import Image, ImageDraw, ImageFont

from .files import atomic_writer
from .results import Detection

_FONT_CANDIDATES = (
    "/usr/share/fonts/truetype/DejaVuSans.ttf",  # the board: meta-oe's ttf-dejavu-sans (app RDEPENDS)
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",  # Debian's fonts-dejavu-core
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
            # BASIC: no shaping (complex scripts are drawn glyph by glyph), 4x faster than RAQM.
            return ImageFont.truetype(path, size, layout_engine=ImageFont.Layout.BASIC)
    return ImageFont.load_default()  # small bitmap font: boards without fonts still get labels


MAX_GLYPHS = 4096  # per font size: the characters of every label an OEM's model may have


class LabelFont:
    """A label font whose glyphs are rasterised once: a text is composed from cached glyph masks
    (Image.paste, in C) instead of laid out and rasterised by FreeType on every frame. Pillow's
    text drawing takes about 1 ms a label on this host (4 ms with the RAQM layout), holding the
    GIL: 12 labels cost the live outputs 60 ms a frame, from the inference thread too, and a
    board's Cortex-A cores are several times slower. Composition ignores kerning pairs (a pixel
    here and there in a label). A text's mask is as tall as its own ink, as Pillow's textbbox."""

    REFERENCE_INK = "ÅÉ|gjpqy"  # the tallest and deepest ink of Latin labels: the glyphs' cell

    def __init__(self, font):
        self.font = font
        _left, self._top, _right, bottom = font.getbbox(self.REFERENCE_INK)
        self._cell_height = max(bottom - self._top, 1)
        # char -> (mask of its cell, advance, the cell's x offset from the pen, ink top and bottom
        # rows in the cell, or None for no ink)
        self._glyphs: Dict[str, Tuple[Image.Image, float, int, Optional[Tuple[int, int]]]] = {}

    def _glyph(self, char: str):
        glyph = self._glyphs.get(char)
        if glyph is None:
            advance = self.font.getlength(char)
            left, top, right, bottom = self.font.getbbox(char)
            shift = min(int(left), 0)
            cell = Image.new("L", (max(int(math.ceil(max(right, advance))) - shift, 1), self._cell_height))
            ImageDraw.Draw(cell).text((-shift, -self._top), char, fill=255, font=self.font)
            rows = None
            if bottom > top:
                rows = (min(max(top - self._top, 0), self._cell_height), min(max(bottom - self._top, 0), self._cell_height))
            glyph = (cell, advance, shift, rows)
            if len(self._glyphs) < MAX_GLYPHS:  # dict writes are atomic: threads at worst render twice
                self._glyphs[char] = glyph
        return glyph

    def size(self, text: str) -> Tuple[int, int]:
        """(width, height) of the text's mask: its advances (and the last glyph's ink beyond its
        advance) by the rows its own ink spans."""
        width, top, bottom = self._extent(text)
        return width, bottom - top

    def _extent(self, text: str) -> Tuple[int, int, int]:
        pen, right, top, bottom = 0.0, 0, self._cell_height, 0
        for char in text:
            cell, advance, shift, rows = self._glyph(char)
            right = max(right, int(round(pen)) + shift + cell.width)
            if rows is not None:
                top, bottom = min(top, rows[0]), max(bottom, rows[1])
            pen += advance
        if bottom <= top:  # no ink (spaces, an empty label): one row
            top, bottom = 0, 1
        return max(right, int(math.ceil(pen)), 1), top, bottom

    def width(self, text: str) -> int:
        return self.size(text)[0]

    def mask(self, text: str) -> Image.Image:
        """The text as an "L" mask of size(text) (255 = ink)."""
        width, top, bottom = self._extent(text)
        mask = Image.new("L", (width, bottom - top))
        pen = 0.0
        for char in text:
            cell, advance, shift, _rows = self._glyph(char)
            x = int(round(pen)) + shift
            mask.paste(255, (x, -top, x + cell.width, cell.height - top), cell)  # ink over ink: overlaps stay whole
            pen += advance
        return mask


@functools.lru_cache(maxsize=32)
def label_font(size: int) -> LabelFont:
    """The label font of a pixel size, shared by every thread and frame (see LabelFont)."""
    return LabelFont(_font(size))


Rect = Tuple[int, int, int, int]  # left, top, right, bottom (exclusive)


def _overlap(a: Rect, b: Rect) -> int:
    width = min(a[2], b[2]) - max(a[0], b[0])
    height = min(a[3], b[3]) - max(a[1], b[1])
    return width * height if width > 0 and height > 0 else 0


def _clamp(left: int, top: int, width: int, height: int, image_size: Tuple[int, int]) -> Rect:
    left = min(max(left, 0), max(image_size[0] - width, 0))
    top = min(max(top, 0), max(image_size[1] - height, 0))
    return left, top, left + width, top + height


def place_tags(boxes: Sequence[Rect], tag_sizes: Sequence[Tuple[int, int]], image_size: Tuple[int, int]) -> List[Rect]:
    """Where each box's label tag goes, so that tags of crowded boxes do not cover each other.

    Tags are placed in order (callers pass the best detection first). Each tries, in turn: above
    the box's top-left corner (the usual place), just inside it, below the box, inside its bottom,
    then the same at the box's right side, then stacked further above and below; the first spot
    that overlaps no tag placed so far wins, else the spot that overlaps least. Every spot is
    clamped into the image.
    """
    placed: List[Rect] = []
    for (x0, y0, x1, y1), (width, height) in zip(boxes, tag_sizes):
        lefts = (x0, x1 - width)
        tops = (y0 - height, y0, y1, y1 - height)
        candidates = [(left, top) for left in lefts for top in tops]
        for step in range(2, 5):  # stacked spots, for rows of small boxes (cars in a street)
            candidates += [(x0, y0 - step * height), (x0, y1 + (step - 1) * height)]
        best, best_overlap = None, None
        for left, top in candidates:
            rect = _clamp(left, top, width, height, image_size)
            overlap = sum(_overlap(rect, other) for other in placed)
            if best_overlap is None or overlap < best_overlap:
                best, best_overlap = rect, overlap
            if overlap == 0:
                break
        placed.append(best)
    return placed


def _line_and_font(size: Tuple[int, int]) -> Tuple[int, LabelFont]:
    """Line width and label font for an image of `size`: both grow with the image."""
    return max(2, round(min(size) / 200)), label_font(max(12, round(min(size) / 30)))


def _stamp(image: Image.Image, text: str, at: Tuple[int, int], colour: tuple, font: LabelFont) -> None:
    """`text` in `colour` with its cell's top-left corner at `at` (clipped to the image)."""
    mask = font.mask(text)
    image.paste(colour, (at[0], at[1], at[0] + mask.width, at[1] + mask.height), mask)


def _label(detection: Detection) -> str:
    if detection.track_id is not None:  # a tracked object of a live source: its id, as the events name it
        return f"{detection.label} #{detection.track_id} {detection.score:.2f}"
    return f"{detection.label} {detection.score:.2f}"


# Zones amber, lines cyan, named in black on their colour; drawn under the boxes (annotate), so an
# object's box and label always stay readable.
ZONE_COLOUR = (255, 214, 0)
LINE_COLOUR = (0, 229, 255)


def draw_regions(image: Image.Image, regions) -> Image.Image:
    """`image` (changed in place, and returned) with the zones' outlines and the lines drawn, each
    named, a line with a short arrow toward its "in" side. `regions`: analytics.zones.Regions
    resolved to the image's pixels (Regions.resolve)."""
    line, font = _line_and_font(image.size)
    draw = ImageDraw.Draw(image)
    for zone in regions.zones:
        points = [tuple(point) for point in zone.points]
        draw.line(points + points[:1], fill=ZONE_COLOUR, width=line, joint="curve")
        _region_name(image, draw, zone.name, points[0], ZONE_COLOUR, font, line)
    for region in regions.lines:
        (ax, ay), (bx, by) = region.points
        draw.line([(ax, ay), (bx, by)], fill=LINE_COLOUR, width=line + 1)
        # The arrow: from the line's middle along its normal, on the side of in_point.
        mx, my = (ax + bx) / 2, (ay + by) / 2
        nx, ny = -(by - ay), bx - ax
        length = (nx * nx + ny * ny) ** 0.5 or 1.0
        side = 1.0 if (region.in_point[0] - mx) * nx + (region.in_point[1] - my) * ny >= 0 else -1.0
        reach = 6 * line
        tip = (mx + side * nx / length * reach, my + side * ny / length * reach)
        draw.line([(mx, my), tip], fill=LINE_COLOUR, width=line)
        draw.ellipse([tip[0] - line, tip[1] - line, tip[0] + line, tip[1] + line], fill=LINE_COLOUR)
        _region_name(image, draw, f"{region.name} (in)", tip, LINE_COLOUR, font, line)
    return image


def _region_name(image: Image.Image, draw, text: str, at, colour, font: LabelFont, line) -> None:
    x, y = int(at[0]) + line, int(at[1]) + line
    width, height = font.size(text)
    draw.rectangle([x, y, x + width + 2 * line, y + height + 2 * line], fill=colour)
    _stamp(image, text, (x + line, y + line), (0, 0, 0), font)


def label_tags(image: Image.Image, detections: Sequence[Detection]) -> List[Rect]:
    """Where annotate puts each detection's label tag on `image` (see place_tags)."""
    line, font = _line_and_font(image.size)
    boxes = [tuple(round(v) for v in detection.box.as_list()) for detection in detections]
    sizes = [tuple(extent + 2 * line for extent in font.size(_label(detection))) for detection in detections]
    return place_tags(boxes, sizes, image.size)


def annotate(image: Image.Image, detections: Sequence[Detection], regions=None) -> Image.Image:
    """A copy of `image` (RGB) with the detections drawn on it: the zones and lines of `regions`
    (resolved to the image's pixels) if given, then every box, then every label tag on top, placed
    so that neighbouring tags stay legible (place_tags)."""
    annotated = image.convert("RGB")  # a copy, also of an RGB image
    if regions is not None:
        draw_regions(annotated, regions)
    draw = ImageDraw.Draw(annotated)
    line, font = _line_and_font(annotated.size)
    for detection in detections:
        colour = class_colour(detection.class_id)
        box = [round(v) for v in detection.box.as_list()]
        draw.rectangle(box, outline=(0, 0, 0), width=line + 2)
        draw.rectangle(box, outline=colour, width=line)
    for detection, tag in zip(detections, label_tags(annotated, detections)):
        colour = class_colour(detection.class_id)
        draw.rectangle([tag[0], tag[1], tag[2] - 1, tag[3] - 1], fill=colour)
        _stamp(annotated, _label(detection), (tag[0] + line, tag[1] + line), _text_colour(colour), font)
    return annotated


def annotated_path(output_dir: str, image_path: str) -> str:
    """Same file name in `output_dir`; formats Pillow writes poorly become PNG."""
    name = os.path.basename(image_path)
    stem, extension = os.path.splitext(name)
    if extension.lower() not in (".jpg", ".jpeg", ".png", ".bmp"):
        name = f"{stem}.png"
    return os.path.join(output_dir, name)


def annotated_paths(output_dir: str, image_paths: Sequence[str]) -> Dict[str, str]:
    """Each input's annotated copy in `output_dir`: its own name (annotated_path) where that is
    free, else the stem with -2, -3...: never an input's own file (`--output .` in the photos'
    folder must not replace a photo), never the same file for two inputs (a/x.jpg and b/x.jpg)."""
    inputs = {os.path.realpath(path) for path in image_paths}
    taken = set(inputs)
    targets: Dict[str, str] = {}
    for path in image_paths:
        if path in targets:
            continue  # the same path given twice: one copy
        target = annotated_path(output_dir, path)
        stem, extension = os.path.splitext(target)
        number = 1
        while os.path.realpath(target) in taken:
            number += 1
            target = f"{stem}-{number}{extension}"
        taken.add(os.path.realpath(target))
        targets[path] = target
    return targets


def save_atomically(image: Image.Image, target: str) -> None:
    """`image` saved as `target` (format by its extension), complete or not at all
    (files.atomic_writer): a full disk leaves the previous file (or none), never a truncated
    JPEG; the OSError goes to the caller."""
    image_format = Image.registered_extensions().get(os.path.splitext(target)[1].lower(), "PNG")
    with atomic_writer(target) as file:
        image.save(file, format=image_format)
