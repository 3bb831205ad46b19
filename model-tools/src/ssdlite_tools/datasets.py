"""Evaluation datasets: COCO json, YOLO txt folders and PASCAL VOC XML, read into one value.

Every reader returns a `Dataset`: the images (path, width, height as the app sees them, i.e.
EXIF-oriented) and the ground-truth boxes as COCO has them ([x, y, w, h] in pixels of that image,
x and y of the top-left corner, continuous coordinates with 0 at the image's left/top edge), each
under the dataset's own class name. `map_classes` ties those names to the model's labels, and
`coco_ground_truth` builds the pycocotools COCO object whose category ids are the model's class
ids (so `coco_eval.to_coco_results` reports a detection of class c as category c).

Boxes to be ignored (a COCO crowd region, a VOC `difficult` object) keep `iscrowd` 1: COCOeval
sets its `ignore` flag from `iscrowd` alone, so such a box is never a miss (not an FN), and a
detection matched to it is neither a TP nor an FP.

Nothing here runs a model or prints; errors a user can cause raise ToolsError with one line.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import re
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

from PIL import Image, UnidentifiedImageError
from ssdlite_detect.labels import UNUSED
from ssdlite_detect.preprocess import oriented_size

from .errors import ToolsError

FORMATS = ("coco", "yolo", "voc")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
# Where a YOLO folder keeps its class names when --names is not given, in this order.
YOLO_NAME_FILES = ("names.yaml", "data.yaml", "dataset.yaml", "classes.txt", "obj.names")
# As ssdlite_detect.preprocess.read_image: orientations 5..8 turn the image by 90 degrees.


@dataclass(frozen=True)
class ImageRecord:
    id: int
    path: Path
    width: int
    height: int


@dataclass(frozen=True)
class GroundTruthBox:
    image_id: int
    class_name: str
    bbox: Tuple[float, float, float, float]  # x, y, w, h in pixels
    area: float  # COCO's own area (the segment's) for COCO json, else w * h
    iscrowd: int = 0  # 1: ignored (COCO crowd region, VOC difficult)


@dataclass(frozen=True)
class Dataset:
    format: str
    source: Path
    class_names: Tuple[str, ...]  # the dataset's classes, in its own order
    images: Tuple[ImageRecord, ...]
    boxes: Tuple[GroundTruthBox, ...]
    notes: Tuple[str, ...] = ()  # one line each, for the user (e.g. label files without an image)
    categories: Tuple[Tuple[int, str], ...] = ()  # COCO json only: the file's own (id, name) pairs


@dataclass(frozen=True)
class ClassMapping:
    model_ids: Dict[str, int]  # dataset class name -> model class id
    left_out: Tuple[str, ...]  # dataset classes with no model class


# --- reading ---------------------------------------------------------------------------------------


def image_size(path: Path) -> Tuple[int, int]:
    """(width, height) of the image file as the app loads it (EXIF-oriented), from its header."""
    try:
        with Image.open(path) as image:
            width, height = oriented_size(image)
    except FileNotFoundError:
        raise ToolsError(f"{path}: no such file") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        raise ToolsError(f"{path}: not an image Pillow can read ({error})") from None
    return int(width), int(height)


def _image_files(folder: Path) -> List[Path]:
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())


def read_coco_json(annotations: Path, images_dir: Path) -> Dataset:
    """A COCO instances file; image paths are `images_dir / file_name` (not checked here: the
    evaluate command may download missing COCO val2017 images). Image ids are kept."""
    if not annotations.is_file():
        raise ToolsError(f"no COCO annotations at {annotations}")
    try:
        data = json.loads(annotations.read_text(encoding="utf-8"))
        categories = {int(c["id"]): str(c["name"]) for c in data["categories"]}
        images = tuple(
            ImageRecord(int(i["id"]), images_dir / str(i["file_name"]), int(i["width"]), int(i["height"]))
            for i in data["images"]
        )
        known_images = {image.id for image in images}
        boxes, uncategorised = [], set()
        for annotation in data["annotations"]:
            category_id = int(annotation["category_id"])
            image_id = int(annotation["image_id"])
            if image_id not in known_images:
                raise ToolsError(
                    f"{annotations}: annotation {annotation.get('id')} refers to image {image_id}, not in images"
                )
            if category_id not in categories:
                uncategorised.add(category_id)  # COCOeval never scored these either: skipped, and said
                continue
            x, y, w, h = (float(v) for v in annotation["bbox"])
            area = float(annotation.get("area", w * h))
            boxes.append(GroundTruthBox(image_id, categories[category_id], (x, y, w, h), area,
                                        int(bool(annotation.get("iscrowd", 0)))))  # fmt: skip
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ToolsError(f"{annotations} is not a COCO instances file ({error})") from None
    except KeyError as error:
        raise ToolsError(f"{annotations} is not a COCO instances file (no {error} key)") from None
    except (TypeError, ValueError) as error:
        raise ToolsError(f"{annotations} is not a COCO instances file (a bad value: {error})") from None
    # Category order: by id, as the file's categories.
    names = tuple(dict.fromkeys(categories[i] for i in sorted(categories)))
    notes = ()
    if uncategorised:
        ids = ", ".join(map(str, sorted(uncategorised)))
        notes = (f"annotations of category id(s) {ids}, which `categories` does not list, are ignored",)
    return Dataset("coco", annotations, names, images, tuple(boxes), notes, tuple(sorted(categories.items())))


def _strip_yaml_scalar(text: str) -> str:
    text = text.strip()
    if text[:1] in ("'", '"'):
        quote = text[0]
        end = text.find(quote, 1)
        return text[1:end] if end > 0 else text[1:]
    return text.split(" #", 1)[0].strip()


def _split_flow(text: str) -> List[str]:
    """Items of a one-line YAML flow sequence/mapping body (commas inside quotes kept)."""
    return [item for item in re.findall(r"""\s*('[^']*'|"[^"]*"|[^,]+)\s*(?:,|$)""", text) if item.strip()]


def read_names(path: Path) -> Dict[int, str]:
    """Class id -> name, from a YOLO/Ultralytics YAML file's `names:` (a block or inline list, or
    a block or inline `id: name` mapping) or from a text file with one name per line (line i =
    class i, as darknet's obj.names). Only that key is read, without a YAML library (PyYAML is not
    among the tools' dependencies); anything it cannot read is an error, not a guess."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        raise ToolsError(f"cannot read class names from {path} ({error})") from None
    if path.suffix.lower() not in (".yaml", ".yml"):
        lines = [line.strip() for line in text.splitlines()]
        while lines and not lines[-1]:
            lines.pop()
        if not lines or not all(lines):
            raise ToolsError(f"{path}: expected one class name per line, line i naming class i")
        return dict(enumerate(lines))

    lines = text.splitlines()
    starts = [i for i, line in enumerate(lines) if re.match(r"names\s*:", line)]
    if len(starts) == 1:
        rest = lines[starts[0]].split(":", 1)[1].split(" #", 1)[0].strip()
        if rest.startswith("[") and rest.endswith("]"):  # names: [person, bicycle, ...]
            items = list(enumerate(_split_flow(rest[1:-1])))
        elif rest.startswith("{") and rest.endswith("}"):  # names: {0: person, ...}
            items = [tuple(item.split(":", 1)) for item in _split_flow(rest[1:-1])]
        elif not rest:  # a block: "  0: person" or "  - person" lines, up to the next top-level key
            items = []
            for line in lines[starts[0] + 1 :]:
                if not line.strip() or line.lstrip().startswith("#"):
                    continue
                if not line[:1].isspace():
                    break
                entry = line.strip()
                items.append((len(items), entry[1:]) if entry.startswith("-") else tuple(entry.split(":", 1)))
        else:
            items = []
        names: Dict[int, str] = {}
        try:
            for class_id, name in items:
                class_id, name = int(str(class_id).strip().strip("'\"")), _strip_yaml_scalar(name)
                if not name or class_id in names:
                    raise ValueError(class_id)
                names[class_id] = name
        except ValueError:
            names = {}
        if names:
            return names
    raise ToolsError(f"{path}: no readable `names:` (a list, or `id: name` lines) for the YOLO class names")


def _yolo_names(root: Path, names_file: Optional[Path]) -> Dict[int, str]:
    if names_file is not None:
        if not names_file.is_file():
            raise ToolsError(f"no class names file at {names_file}")
        return read_names(names_file)
    for name in YOLO_NAME_FILES:
        if (root / name).is_file():
            return read_names(root / name)
    raise ToolsError(f"{root}: no class names ({', '.join(YOLO_NAME_FILES)}); pass --names FILE")


def read_yolo(root: Path, names_file: Optional[Path] = None) -> Dataset:
    """A YOLO folder: `images/` and `labels/` (the label of images/A/B.jpg is labels/A/B.txt), or
    images with their .txt beside them. A label line is `class x_center y_center width height`,
    normalised to the image's size; an image without a .txt has no objects. Image ids are 1..N in
    path order."""
    names = _yolo_names(root, names_file)
    images_root = root / "images" if (root / "images").is_dir() else root
    labels_root = root / "labels" if images_root != root else root
    if not labels_root.is_dir():
        raise ToolsError(f"{root}: images/ but no labels/ folder (YOLO: labels/NAME.txt for images/NAME.jpg)")
    files = _image_files(images_root)
    if not files:
        raise ToolsError(f"{images_root}: no images ({', '.join(IMAGE_SUFFIXES)})")
    images, boxes = [], []
    labelled = set()
    for image_id, path in enumerate(files, start=1):
        width, height = image_size(path)
        images.append(ImageRecord(image_id, path, width, height))
        label = (labels_root / path.relative_to(images_root)).with_suffix(".txt")
        if not label.is_file():
            continue
        labelled.add(label)
        try:
            text = label.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise ToolsError(f"cannot read {label} ({error})") from None
        for number, line in enumerate(text.splitlines(), start=1):
            fields = line.split()
            if not fields:
                continue
            where = f"{label}:{number}"
            if len(fields) != 5:
                raise ToolsError(f"{where}: expected `class x_center y_center width height`, got {len(fields)} fields")
            try:
                class_id = int(fields[0])
                xc, yc, w, h = (float(v) for v in fields[1:])
            except ValueError:
                raise ToolsError(f"{where}: not a class id and four numbers: {line.strip()!r}") from None
            if class_id not in names:
                raise ToolsError(f"{where}: class {class_id} has no name (names: {min(names)}..{max(names)})")
            if not all(math.isfinite(v) and 0.0 <= v <= 1.0 for v in (xc, yc, w, h)):
                raise ToolsError(f"{where}: coordinates must be normalised to [0, 1]: {line.strip()!r}")
            box = ((xc - w / 2) * width, (yc - h / 2) * height, w * width, h * height)
            boxes.append(GroundTruthBox(image_id, names[class_id], box, box[2] * box[3]))
    notes = []
    # Beside the images (no labels/ folder), other .txt files (classes.txt, a README) are not labels.
    orphans = sorted(set(labels_root.rglob("*.txt")) - labelled) if labels_root != images_root else []
    if orphans:
        listed = ", ".join(p.name for p in orphans[:5]) + (" ..." if len(orphans) > 5 else "")
        notes.append(f"{len(orphans)} label file(s) without an image, ignored: {listed}")
    class_names = tuple(dict.fromkeys(names[i] for i in sorted(names)))
    return Dataset("yolo", root, class_names, tuple(images), tuple(boxes), tuple(notes))


def _voc_number(element, tag: str, where: str) -> float:
    child = element.find(tag)
    try:
        value = float(child.text)
    except (AttributeError, TypeError, ValueError):
        raise ToolsError(f"{where}: <{tag}> missing or not a number") from None
    if not math.isfinite(value):
        raise ToolsError(f"{where}: <{tag}> is {value}")
    return value


def _voc_image(xml_path: Path, filename: Optional[str], folders: Sequence[Path]) -> Path:
    candidates = []
    for folder in folders:
        if filename:
            candidates.append(folder / filename)
        candidates += [folder / (xml_path.stem + suffix) for suffix in IMAGE_SUFFIXES]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    wanted = filename or xml_path.stem + ".*"
    raise ToolsError(f"{xml_path}: its image {wanted} is not in {', '.join(map(str, folders))}")


def read_voc(root: Path) -> Dataset:
    """PASCAL VOC: `Annotations/*.xml` with `JPEGImages/`, or .xml files beside their images.

    Each <object> has <name> and <bndbox> xmin ymin xmax ymax, and optionally <difficult>. Image
    ids are 1..N in XML path order; the class list is the names found, sorted."""
    if (root / "Annotations").is_dir():
        xml_files = sorted((root / "Annotations").glob("*.xml"))
        folders = [root / "JPEGImages", root / "Annotations"]
    else:
        xml_files = sorted(root.glob("*.xml"))
        folders = [root]
    if not xml_files:
        raise ToolsError(f"{root}: no VOC annotations (Annotations/*.xml, or .xml files beside the images)")
    images, boxes = [], []
    for image_id, xml_path in enumerate(xml_files, start=1):
        try:
            annotation = ElementTree.parse(xml_path).getroot()
        except ElementTree.ParseError as error:
            raise ToolsError(f"{xml_path}: not valid XML ({error})") from None
        except OSError as error:
            raise ToolsError(f"cannot read {xml_path} ({error})") from None
        if annotation.tag != "annotation":
            raise ToolsError(f"{xml_path}: not a VOC annotation (root element <{annotation.tag}>)")
        path = _voc_image(xml_path, (annotation.findtext("filename") or "").strip(), folders)
        size = annotation.find("size")
        width, height = (
            int(_voc_number(size, tag, str(xml_path))) if size is not None and size.find(tag) is not None else 0
            for tag in ("width", "height")
        )
        if width <= 0 or height <= 0:  # some exporters write 0 or leave <size> out: ask the file
            width, height = image_size(path)
        images.append(ImageRecord(image_id, path, width, height))
        for number, element in enumerate(annotation.findall("object"), start=1):
            where = f"{xml_path}: object {number}"
            name = (element.findtext("name") or "").strip()
            if not name:
                raise ToolsError(f"{where}: no <name>")
            bndbox = element.find("bndbox")
            if bndbox is None:
                raise ToolsError(f"{where} ({name}): no <bndbox>")
            xmin, ymin, xmax, ymax = (_voc_number(bndbox, tag, where) for tag in ("xmin", "ymin", "xmax", "ymax"))
            if xmax < xmin or ymax < ymin:
                raise ToolsError(f"{where} ({name}): xmax/ymax below xmin/ymin")
            # VOC numbers pixels from 1 and both corners are inclusive pixels: pixels xmin..xmax
            # cover the continuous span [xmin - 1, xmax] in COCO's 0-based coordinates, so
            # x = xmin - 1 and w = xmax - xmin + 1 (the devkit's own width is xmax - xmin + 1).
            box = (xmin - 1.0, ymin - 1.0, xmax - xmin + 1.0, ymax - ymin + 1.0)
            difficult = (element.findtext("difficult") or "0").strip()
            # difficult -> iscrowd 1: COCOeval ignores the box (see the module doc). One difference
            # from VOC's devkit: COCOeval matches a crowd box by intersection over the detection's
            # area, not IoU, so a detection lying inside a difficult box is ignored too.
            boxes.append(GroundTruthBox(image_id, name, box, box[2] * box[3], int(difficult not in ("0", ""))))
    class_names = tuple(sorted({box.class_name for box in boxes}))
    return Dataset("voc", root, class_names, tuple(images), tuple(boxes))


def detect_format(path: Path) -> str:
    """coco for a .json file; yolo or voc for a folder that is clearly one of them."""
    if path.is_file():
        if path.suffix.lower() in (".json", ".zip"):
            return "coco"
        raise ToolsError(f"{path}: a dataset is a COCO .json file or a YOLO/VOC folder")
    if not path.is_dir():
        raise ToolsError(f"no dataset at {path}")
    voc = (path / "Annotations").is_dir() or any(path.glob("*.xml"))
    yolo = (path / "labels").is_dir() or any((path / name).is_file() for name in YOLO_NAME_FILES)
    if voc and not yolo:
        return "voc"
    if yolo and not voc:
        return "yolo"
    found = "both YOLO labels and VOC XML" if voc else "neither YOLO labels/ nor VOC Annotations/"
    raise ToolsError(f"{path}: {found} found; pass --dataset-format {{{','.join(FORMATS)}}}")


# --- classes and images ----------------------------------------------------------------------------


def parse_class_map(items: Iterable[str]) -> Dict[str, str]:
    """`DATASET=MODEL` items -> {dataset name (lower case): model name}."""
    renames: Dict[str, str] = {}
    for item in items:
        dataset_name, sep, model_name = item.partition("=")
        if not sep or not dataset_name.strip() or not model_name.strip():
            raise ToolsError(f"--class-map {item!r}: expected DATASET_CLASS=MODEL_CLASS")
        renames[dataset_name.strip().lower()] = model_name.strip()
    return renames


def _model_ids_by_name(labels: Sequence[str]) -> Dict[str, int]:
    by_name: Dict[str, int] = {}
    for class_id, label in enumerate(labels):
        if class_id > 0 and label not in (UNUSED, ""):
            by_name.setdefault(label.lower(), class_id)  # the first id of a repeated name
    return by_name


def map_classes(class_names: Sequence[str], labels: Sequence[str], renames: Mapping[str, str] = {}) -> ClassMapping:
    """Dataset class -> model class id: by name, case-insensitive, after `renames` (from
    parse_class_map); `labels[i]` names model class i (0 = background)."""
    by_name = _model_ids_by_name(labels)
    dataset_names = {name.lower(): name for name in class_names}
    for dataset_name, model_name in renames.items():
        if dataset_name not in dataset_names:
            raise ToolsError(
                f"--class-map {dataset_name}={model_name}: the dataset has no class {dataset_name!r} "
                f"(its classes: {', '.join(class_names)})"
            )
        if model_name.lower() not in by_name:
            raise ToolsError(f"--class-map {dataset_name}={model_name}: the model has no class {model_name!r}")
    model_ids, left_out = {}, []
    for name in class_names:
        target = renames.get(name.lower(), name).lower()
        if target in by_name:
            model_ids[name] = by_name[target]
        else:
            left_out.append(name)
    return ClassMapping(model_ids, tuple(left_out))


def select_images(dataset: Dataset, mapping: ClassMapping, labels: Sequence[str], names: Sequence[str]) -> Dataset:
    """Only the images with at least one (not ignored) object of any of `names`, each a dataset
    class or the model class some dataset class maps to (case-insensitive)."""
    wanted = set()
    for name in names:
        found = {c for c in dataset.class_names if c.lower() == name.lower()}
        found |= {c for c, i in mapping.model_ids.items() if labels[i].lower() == name.lower()}
        if not found:
            raise ToolsError(f"--images-with {name}: neither a class of the dataset nor a model class mapped to one")
        if not found & set(mapping.model_ids):
            raise ToolsError(f"--images-with {name}: that class is left out (no model class; see --class-map)")
        wanted |= found & set(mapping.model_ids)
    keep = {box.image_id for box in dataset.boxes if box.class_name in wanted and not box.iscrowd}
    return replace(
        dataset,
        images=tuple(image for image in dataset.images if image.id in keep),
        boxes=tuple(box for box in dataset.boxes if box.image_id in keep),
    )


def coco_dict(dataset: Dataset, mapping: ClassMapping, labels: Sequence[str]) -> Dict[str, list]:
    """The COCO-format ground truth: categories are the model classes the dataset maps to (id =
    model class id, name = the model's label); boxes of left-out classes are dropped."""
    category_ids = sorted(set(mapping.model_ids.values()))
    annotations = []
    for box in dataset.boxes:
        if box.class_name not in mapping.model_ids:
            continue
        annotations.append(
            {"id": len(annotations) + 1, "image_id": box.image_id, "category_id": mapping.model_ids[box.class_name],
             "bbox": list(box.bbox), "area": box.area, "iscrowd": box.iscrowd}
        )  # fmt: skip
    return {
        "images": [
            {"id": image.id, "file_name": str(image.path), "width": image.width, "height": image.height}
            for image in dataset.images
        ],
        "annotations": annotations,
        "categories": [{"id": i, "name": labels[i], "supercategory": ""} for i in category_ids],
    }


def coco_ground_truth(data: Dict[str, list]):
    """A pycocotools COCO object built in memory from a COCO-format dict."""
    from pycocotools.coco import COCO

    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints "creating index..."
        coco = COCO()
        coco.dataset = data
        coco.createIndex()
    return coco
