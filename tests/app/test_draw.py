"""Annotated images (ssdlite_detect.draw): boxes, label tags and output names."""
from __future__ import annotations

import os

import numpy as np
import pytest
from PIL import Image

from ssdlite_detect.draw import annotate, annotated_path, class_colour, label_tags, place_tags
from ssdlite_detect.labels import COCO_LABELS
from ssdlite_detect.results import BBox, Detection

GREY = (128, 128, 128)
BLACK = (0, 0, 0)
WHITE = (255, 255, 255)


def luminance(colour) -> float:
    return 0.299 * colour[0] + 0.587 * colour[1] + 0.114 * colour[2]


# Classes whose colour is clearly light / clearly dark, whatever the exact cut-off.
LIGHT_CLASS = max(range(1, 91), key=lambda c: luminance(class_colour(c)))
DARK_CLASS = min(range(1, 91), key=lambda c: luminance(class_colour(c)))


def detection(box, class_id=1, label=None, score=0.9) -> Detection:
    label = COCO_LABELS[class_id] if label is None else label
    return Detection(class_id, label, score, BBox(*box), (0.0, 0.0, 0.0, 0.0))


def draw(size, detections, background=GREY) -> np.ndarray:
    return np.asarray(annotate(Image.new("RGB", size, background), detections)).astype(np.int64)


def mask_of(pixels: np.ndarray, colour) -> np.ndarray:
    return np.all(pixels == np.array(colour), axis=2)


def bounds(mask: np.ndarray):
    """(left, top, right, bottom) of the True pixels, inclusive."""
    ys, xs = np.nonzero(mask)
    assert ys.size, "no pixel of that colour"
    return xs.min(), ys.min(), xs.max(), ys.max()


def test_class_colours_are_stable_saturated_and_distinct_for_coco():
    colours = [class_colour(c) for c in range(1, 91)]
    assert colours == [class_colour(c) for c in range(1, 91)]
    assert len(set(colours)) == 90
    for colour in colours:
        assert all(0 <= v <= 255 for v in colour)
        assert max(colour) - min(colour) > 150  # saturated: stands out from grey photos


def test_box_edges_are_drawn_in_the_class_colour():
    xmin, ymin, xmax, ymax = 100, 100, 300, 250
    colour = class_colour(1)
    image = draw((400, 300), [detection((xmin, ymin, xmax, ymax), class_id=1)])
    middle_y, middle_x = (ymin + ymax) // 2, (xmin + xmax) // 2
    # On the box's own edges (inclusive), drawn inwards.
    assert tuple(image[middle_y, xmin]) == colour
    assert tuple(image[middle_y, xmax]) == colour
    assert tuple(image[ymax, middle_x]) == colour
    assert tuple(image[ymin, xmax - 5]) == colour
    # Outside the box and its centre are untouched.
    assert tuple(image[middle_y, xmin - 1]) == GREY
    assert tuple(image[middle_y, xmax + 1]) == GREY
    assert tuple(image[ymax + 1, middle_x]) == GREY
    assert tuple(image[middle_y, middle_x]) == GREY
    # A black rim just inside the coloured line keeps the box visible on any background.
    left_edge = [tuple(p) for p in image[middle_y, xmin:xmin + 12]]
    assert BLACK in left_edge
    assert left_edge.index(BLACK) > 0 and all(p == colour for p in left_edge[:left_edge.index(BLACK)])


def test_each_detection_uses_its_own_class_colour():
    image = draw((400, 200), [detection((20, 60, 150, 180), class_id=3), detection((220, 60, 380, 180), class_id=18)])
    assert tuple(image[120, 20]) == class_colour(3)
    assert tuple(image[120, 220]) == class_colour(18)
    assert class_colour(3) != class_colour(18)


def tag_region(image: np.ndarray, colour, rows: slice, columns: slice = slice(None)):
    """The bounding box of the colour in a band of the image: the label tag."""
    left, top, right, bottom = bounds(mask_of(image[rows, columns], colour))
    row0 = rows.start or 0
    column0 = columns.start or 0
    return left + column0, top + row0, right + column0, bottom + row0


def text_pixels(tag: np.ndarray, tag_colour) -> np.ndarray:
    """Luminance of the tag's pixels that are not the tag colour: the (anti-aliased) text."""
    return tag[~mask_of(tag, tag_colour)] @ np.array([0.299, 0.587, 0.114])


def assert_readable_text(tag: np.ndarray, tag_colour, text_colour):
    text = text_pixels(tag, tag_colour)
    assert text.size >= 20, "no text on the tag"
    if text_colour == BLACK:  # every text pixel is a blend towards black, the darkest is black
        assert text.max() < luminance(tag_colour) and text.min() < 30
    else:
        assert text.min() > luminance(tag_colour) and text.max() > 225


def test_label_tag_sits_on_top_of_the_box_and_holds_text():
    xmin, ymin = 100, 120
    colour = class_colour(1)
    image = draw((400, 300), [detection((xmin, ymin, 300, 250), class_id=1)])
    left, top, right, bottom = tag_region(image, colour, slice(0, ymin))
    assert left == xmin and bottom == ymin - 1  # adjacent to the box's top-left corner
    assert bottom - top >= 12 and right - left > bottom - top  # wider than tall: a line of text
    tag = image[top:bottom + 1, left:right + 1]
    assert mask_of(tag, colour).mean() > 0.5  # mostly the filled tag...
    assert not mask_of(tag, colour).all()     # ...with text drawn on it


def test_label_tag_grows_with_the_label_text():
    def tag_width(label):
        image = draw((600, 300), [detection((50, 100, 550, 250), class_id=1, label=label)])
        left, _, right, _ = tag_region(image, class_colour(1), slice(0, 100))
        return right - left

    assert tag_width("a much longer label than that") > tag_width("cat") + 50


@pytest.mark.parametrize(
    "class_id, text",
    [(LIGHT_CLASS, BLACK), (DARK_CLASS, WHITE)],
    ids=["light-tag-black-text", "dark-tag-white-text"],
)
def test_text_colour_follows_tag_luminance(class_id, text):
    colour = class_colour(class_id)
    assert (luminance(colour) > 160) == (text == BLACK)  # the classes really are light / dark
    image = draw((400, 300), [detection((100, 120, 300, 250), class_id=class_id)])
    left, top, right, bottom = tag_region(image, colour, slice(0, 120))
    assert_readable_text(image[top:bottom + 1, left:right + 1], colour, text)


def test_box_touching_every_image_edge():
    width, height = 200, 100
    colour = class_colour(5)
    image = draw((width, height), [detection((0, 0, width, height), class_id=5)])
    assert tuple(image[height // 2, 0]) == colour
    assert tuple(image[height // 2, width - 1]) == colour
    assert tuple(image[height - 1, width // 2]) == colour
    assert tuple(image[0, width - 5]) == colour
    # No room above the box: the tag goes inside it, at the top left, with its text.
    left, top, right, bottom = tag_region(image, colour, slice(0, height // 2), slice(0, width // 2))
    assert (left, top) == (0, 0)
    assert_readable_text(image[top:bottom + 1, left:right + 1], colour, BLACK if luminance(colour) > 140 else WHITE)


def test_tag_of_a_box_at_the_right_edge_stays_inside_the_image():
    width = 300
    colour = class_colour(7)
    image = draw((width, 200), [detection((width - 10, 80, width, 190), class_id=7, label="traffic light")])
    left, top, right, bottom = tag_region(image, colour, slice(0, 80))
    assert right == width - 1 and left < width - 60  # shifted left to fit, text and all
    assert_readable_text(image[top:bottom + 1, left:right + 1], colour, BLACK if luminance(colour) > 140 else WHITE)


@pytest.mark.parametrize("size", [(1, 1), (2, 3), (10, 8)])
def test_tiny_images(size):
    width, height = size
    detections = [detection((0, 0, width, height), class_id=1), detection((-5, -5, width + 5, height + 5), class_id=2)]
    annotated = annotate(Image.new("RGB", size, GREY), detections)
    assert annotated.size == size and annotated.mode == "RGB"
    assert (np.asarray(annotated) != np.array(GREY)).any()  # something was drawn


def test_huge_image_gets_thick_lines_and_a_large_tag():
    width, height = 4000, 3000
    colour = class_colour(1)
    xmin, ymin, xmax, ymax = 1000, 1000, 3000, 2500
    image = np.asarray(annotate(Image.new("RGB", (width, height), GREY), [detection((xmin, ymin, xmax, ymax))]))
    row = image[(ymin + ymax) // 2, xmin - 1:xmin + 40].astype(np.int64)
    assert tuple(row[0]) == GREY
    coloured = int(mask_of(row[None], colour)[0].sum())
    assert coloured >= 10  # scales with the image: ~min(size)/200 pixels
    _, top, _, bottom = tag_region(image, colour, slice(0, ymin), slice(xmin, xmax))
    assert bottom - top >= 60  # the font scales too (min(size)/30)


def test_annotate_returns_a_copy_in_rgb():
    for mode in ("RGB", "L", "RGBA", "P"):
        original = Image.new(mode, (50, 40))
        before = original.tobytes()
        annotated = annotate(original, [detection((5, 5, 30, 30))])
        assert annotated is not original and annotated.mode == "RGB"
        assert original.tobytes() == before


def test_annotate_without_detections_is_an_identical_copy():
    original = Image.fromarray(np.random.default_rng(0).integers(0, 256, (30, 40, 3), dtype=np.uint8))
    annotated = annotate(original, [])
    assert annotated is not original
    np.testing.assert_array_equal(np.asarray(annotated), np.asarray(original))


def test_fractional_box_coordinates_are_rounded():
    colour = class_colour(1)
    image = draw((100, 100), [detection((10.4, 20.6, 80.5, 90.2))])
    assert tuple(image[50, 10]) == colour and tuple(image[50, 9]) == GREY
    assert tuple(image[90, 50]) == colour and tuple(image[91, 50]) == GREY


@pytest.mark.parametrize(
    "image_path, expected_name",
    [
        ("photos/bus.jpg", "bus.jpg"),
        ("/abs/dir/IMG_0001.JPG", "IMG_0001.JPG"),
        ("a.jpeg", "a.jpeg"),
        ("scan.png", "scan.png"),
        ("old.bmp", "old.bmp"),
        ("anim.gif", "anim.png"),
        ("photo.webp", "photo.png"),
        ("scan.tiff", "scan.png"),
        ("frame.ppm", "frame.png"),
        ("noextension", "noextension.png"),
        ("archive.v2.tif", "archive.v2.png"),
    ],
)
def test_annotated_path_keeps_the_name_in_the_output_dir(image_path, expected_name):
    assert annotated_path("out", image_path) == os.path.join("out", expected_name)


def test_annotated_path_can_be_saved_by_pillow(tmp_path):
    for name in ("x.jpg", "x.gif", "x.webp", "x.tif", "x"):
        target = annotated_path(str(tmp_path), f"in/{name}")
        Image.new("RGB", (4, 4)).save(target)
        assert os.path.isfile(target)


def overlaps(a, b) -> bool:
    return min(a[2], b[2]) > max(a[0], b[0]) and min(a[3], b[3]) > max(a[1], b[1])


def test_tags_of_a_row_of_small_boxes_do_not_cover_each_other():
    """Small cars side by side in a street (the bus photo's case): tags wider than their boxes."""
    boxes = [(100 + 18 * i, 190, 115 + 18 * i, 205) for i in range(6)]
    tags = place_tags(boxes, [(60, 16)] * 6, (640, 428))
    assert all(not overlaps(a, b) for n, a in enumerate(tags) for b in tags[n + 1:]), tags
    assert all(0 <= t[0] and t[2] <= 640 and 0 <= t[1] and t[3] <= 428 for t in tags)


def test_a_lone_box_keeps_its_tag_above_its_top_left_corner():
    assert place_tags([(100, 100, 300, 250)], [(80, 20)], (400, 300)) == [(100, 80, 180, 100)]


def test_when_every_spot_is_taken_the_least_covered_one_wins():
    boxes = [(0, 0, 20, 20)] * 30  # more tags than the image can hold apart
    tags = place_tags(boxes, [(40, 15)] * 30, (60, 40))
    assert len(tags) == 30 and all(t[2] <= 60 and t[3] <= 40 for t in tags)


def test_bus_photo_labels_stay_legible(reference, bus_image):
    """No two label tags overlap on the reference photo's detections (cars, people, lights)."""
    from ssdlite_detect import Detector

    detector = Detector.open(str(reference / "coco_ssd_mobilenet_v1_raw.tflite"), device="cpu")
    detections = detector.detect(bus_image).detections
    assert len(detections) >= 8
    tags = label_tags(bus_image, detections)
    assert all(not overlaps(a, b) for n, a in enumerate(tags) for b in tags[n + 1:])
    # and annotate draws each tag there: its top-left pixel has the class colour
    pixels = np.asarray(annotate(bus_image, detections))
    for detection, tag in zip(detections, tags):
        assert tuple(pixels[tag[1], tag[0]]) == class_colour(detection.class_id)


def test_zones_and_lines_are_drawn_under_the_boxes_with_the_arrow_on_the_in_side():
    from ssdlite_detect.analytics.zones import regions_from_table
    from ssdlite_detect.draw import LINE_COLOUR, ZONE_COLOUR, draw_regions

    regions = regions_from_table({
        "zones": [{"name": "z", "points": [[20, 20], [180, 20], [180, 80], [20, 80]]}],
        "lines": [{"name": "l", "points": [[100, 0], [100, 100]], "in": [10, 50]}],
    }, "test").resolve(200, 100)
    image = draw_regions(Image.new("RGB", (200, 100), (128, 128, 128)), regions)
    assert image.getpixel((60, 20)) == ZONE_COLOUR and image.getpixel((180, 70)) == ZONE_COLOUR
    assert image.getpixel((100, 95)) == LINE_COLOUR
    # The arrow points from the line's middle toward "in" (the left), never to the right.
    assert image.getpixel((94, 50)) == LINE_COLOUR and image.getpixel((106, 50)) != LINE_COLOUR
    detection = Detection(class_id=5, label="bus", score=0.9, box=BBox(30, 30, 90, 70),
                          box_normalized=BBox(0.15, 0.3, 0.45, 0.7), track_id=7)
    annotated = annotate(Image.new("RGB", (200, 100), (128, 128, 128)), [detection], regions)
    assert annotated.getpixel((60, 30)) == class_colour(5)  # the box over the zone's area
    assert annotated.getpixel((180, 70)) == ZONE_COLOUR
    untracked = Detection(class_id=5, label="bus", score=0.9, box=BBox(30, 30, 90, 70),
                          box_normalized=BBox(0.15, 0.3, 0.45, 0.7))
    canvas = Image.new("RGB", (200, 100))
    (tracked_tag,), (plain_tag,) = label_tags(canvas, [detection]), label_tags(canvas, [untracked])
    assert tracked_tag[2] - tracked_tag[0] > plain_tag[2] - plain_tag[0]  # "bus #7 0.90" against "bus 0.90"


def _grown(mask):
    """`mask` grown by one pixel in every direction."""
    padded = np.pad(mask, 1)
    height, width = mask.shape
    return np.logical_or.reduce([padded[1 + dy:1 + dy + height, 1 + dx:1 + dx + width]
                                 for dy in (-1, 0, 1) for dx in (-1, 0, 1)])


@pytest.mark.parametrize("size", [12, 16, 36])
def test_composed_labels_match_pillows_own_text(size):
    """LabelFont pastes cached glyphs; the ink is where Pillow's text drawing puts it (kerning
    pairs aside: a pixel column here and there)."""
    from PIL import ImageDraw

    from ssdlite_detect.draw import label_font

    font = label_font(size)
    for text in ("person #12 0.87", "traffic light 0.51", "Éjy|q"):
        composed = np.asarray(font.mask(text)) > 127
        reference = Image.new("L", composed.shape[::-1])
        draw = ImageDraw.Draw(reference)
        _left, top, _right, bottom = draw.textbbox((0, 0), text, font=font.font)
        assert abs(font.size(text)[1] - (bottom - top)) <= 1  # as tall as the text's own ink
        draw.text((0, -top), text, fill=255, font=font.font)
        drawn = np.asarray(reference) > 127
        assert composed.sum() > 0.8 * drawn.sum()
        # Each one's ink within a pixel of the other's (a glyph's rounding may move it by one).
        assert (composed & ~_grown(drawn)).sum() == 0 and (drawn & ~_grown(composed)).sum() == 0, text
        assert font.width(text) >= font.font.getlength(text) - 1  # the tag holds the whole text


def test_label_glyphs_are_cached_and_bounded():
    from ssdlite_detect.draw import MAX_GLYPHS, label_font

    font = label_font(20)
    font.mask("bus 0.93")
    cached = dict(font._glyphs)
    font.mask("bus 0.39")
    assert font._glyphs == cached  # no new glyph, the same objects
    for codepoint in range(0x4E00, 0x4E00 + MAX_GLYPHS + 10):  # more distinct characters than the cap
        font.width(chr(codepoint))
    assert len(font._glyphs) == MAX_GLYPHS
