SUMMARY = "SSDLite MobileNetV2 detector models (int8 and Ethos-U65 Vela) and labels"
DESCRIPTION = "The model bundle written by ssdlite-tools: an SSD MobileNet \
detector (by default SSDLite MobileNetV2 trained on COCO, from the TensorFlow \
detection model zoo; or a retrained model) quantised to int8 for the CPU and \
the i.MX 8M Plus NPU (VX delegate), the same model compiled with Vela for the \
i.MX 93 Ethos-U65, its labels, its model description (model.json) and the \
bundle manifest. Installed in ${SSDLITE_MODEL_INSTALL_DIR}."
HOMEPAGE = "https://github.com/tensorflow/models/blob/master/research/object_detection/g3doc/tf1_detection_zoo.md"
SECTION = "ml"
# The licence is the bundle's: its model.json states it (the zoo's COCO model:
# Apache-2.0, checksummed against oe-core's common licence text; a retrained
# model: what its owner declared to ssdlite-tools bundle, with its text in the
# bundle). See ssdlite_bundle_license below.
LICENSE = "${@ssdlite_bundle_license(d)}"
LIC_FILES_CHKSUM = "${@ssdlite_bundle_lic_files_chksum(d)}"

# The bundle is a build artifact of this repository (`make bundle`, which runs
# `ssdlite-tools bundle`), not something to download: it is taken from the
# local folder SSDLITE_MODEL_DIR. Set SSDLITE_MODEL_DIR (local.conf, or the
# environment through kas) to install a retrained model instead.
SSDLITE_MODEL_DIR ??= "${SSDLITE_REPO_DIR}/model-bundle"
# FILESEXTRAPATHS in a recipe (not a bbappend) because the files are outside
# the layer by design; it keeps the absolute folder out of the task hashes.
# nooelint: oelint.vars.fileextrapaths,oelint.vars.outofcontext
FILESEXTRAPATHS:prepend := "${SSDLITE_MODEL_DIR}:"

# The bundle's files, as its model.json names them (after the model: for COCO
# ssdlite_mobilenetv2_coco_int8.tflite, ..._int8_vela.tflite, coco_labels.txt).
SRC_URI = "${@' '.join('file://%s;subdir=bundle' % name for name in (d.getVar('SSDLITE_BUNDLE_FILES') or '').split())}"

S = "${WORKDIR}/bundle"

# Plain data: the same files suit every machine, so they are built once. Which
# board gets which model is decided by packagegroup-ssdlite (machine-specific).
inherit allarch

# The bundle's model.json (written by ssdlite-tools bundle) names its files by
# role; the app reads the same file on the board to find the models, labels,
# anchors and score conversion, so nothing here depends on which model it is.
SSDLITE_BUNDLE_INT8 = "${@ssdlite_bundle_file(d, 'int8')}"
SSDLITE_BUNDLE_VELA = "${@ssdlite_bundle_file(d, 'vela')}"
SSDLITE_BUNDLE_LABELS = "${@ssdlite_bundle_file(d, 'labels')}"
SSDLITE_BUNDLE_LICENSE = "${@ssdlite_bundle_file(d, 'license')}"
# Every file of the bundle, each listed with its sha256 in manifest.json.
SSDLITE_BUNDLE_FILES = "${SSDLITE_BUNDLE_INT8} ${SSDLITE_BUNDLE_VELA} ${SSDLITE_BUNDLE_LABELS} ${SSDLITE_BUNDLE_LICENSE} model.json manifest.json"
SSDLITE_MODEL_INSTALL_DIR = "${datadir}/ssdlite-mobilenetv2"
SSDLITE_BUNDLE_HELP = "run 'make bundle' (ssdlite-tools bundle) in the meta-ssdlite repository to create the model bundle, or set SSDLITE_MODEL_DIR to a folder holding one"

# model.json of the bundle as a dict, or None when it is missing or unreadable
# (the anonymous python below then skips the recipe, saying why).
def ssdlite_bundle(d):
    import json
    path = os.path.join(d.getVar("SSDLITE_MODEL_DIR"), "model.json")
    try:
        with open(path, encoding="utf-8") as description:
            record = json.load(description)
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) and isinstance(record.get("files"), dict) else None

# The folder is not part of any task hash (relocatable sstate): what matters,
# the file names and contents, is in SRC_URI and its checksums.
ssdlite_bundle[vardepsexclude] = "SSDLITE_MODEL_DIR"

def ssdlite_bundle_file(d, role):
    bundle = ssdlite_bundle(d)
    return str(bundle["files"].get(role) or "") if bundle else ""

# LICENSE of a recipe that is being skipped (no bundle) is never used; "CLOSED"
# only keeps the parse going until the skip.
def ssdlite_bundle_license(d):
    bundle = ssdlite_bundle(d)
    licence = bundle.get("license") if bundle else None
    return str(licence.get("spdx") or "CLOSED") if isinstance(licence, dict) else "CLOSED"

def ssdlite_bundle_lic_files_chksum(d):
    bundle = ssdlite_bundle(d)
    licence = bundle.get("license") if bundle else None
    if not isinstance(licence, dict) or not licence.get("md5"):
        return ""
    if licence.get("file"):
        return "file://%s;md5=%s" % (licence["file"], licence["md5"])
    return "file://${COMMON_LICENSE_DIR}/%s;md5=%s" % (licence["spdx"], licence["md5"])

# Without a bundle the recipe is skipped (with the reason below) rather than
# failing the whole parse: the local fetcher aborts parsing when a file:// entry
# is missing, which would stop every other build that uses this layer. Only
# anonymous python can skip a recipe for a reason other than COMPATIBLE_*.
# nooelint: oelint.task.noanonpython
python () {
    import re
    bundle = d.getVar("SSDLITE_MODEL_DIR")
    help_text = d.getVar("SSDLITE_BUNDLE_HELP")
    # Parse again once the bundle appears or changes (bitbake caches the skip).
    bb.parse.mark_dependency(d, os.path.join(bundle, "model.json"))
    description = ssdlite_bundle(d)
    if description is None:
        raise bb.parse.SkipRecipe("model bundle %s lacks a readable model.json (the model description "
                                  "ssdlite-tools bundle writes): %s" % (bundle, help_text))
    roles = ("int8", "vela", "labels")
    unnamed = [role for role in roles if not ssdlite_bundle_file(d, role)]
    if unnamed:
        raise bb.parse.SkipRecipe("%s/model.json names no %s file: %s" % (bundle, ", ".join(unnamed), help_text))
    licence = description.get("license")
    if not isinstance(licence, dict) or not licence.get("spdx"):
        raise bb.parse.SkipRecipe("%s/model.json states no licence (\"license\": {\"spdx\": ...}): %s" % (bundle, help_text))
    names = d.getVar("SSDLITE_BUNDLE_FILES").split()
    missing = []
    for name in names:
        if not re.match(r"^[A-Za-z0-9][A-Za-z0-9._-]*$", name):
            raise bb.parse.SkipRecipe("%s/model.json names a file %r that is not a plain file name" % (bundle, name))
        path = os.path.join(bundle, name)
        bb.parse.mark_dependency(d, path)
        if not os.path.isfile(path):
            missing.append(name)
    if missing:
        raise bb.parse.SkipRecipe("model bundle %s lacks %s: %s" % (bundle, ", ".join(missing), help_text))
}

# Checks the fetched copies (not the source folder), so what is installed is
# exactly what was verified.
python do_verify_bundle() {
    import hashlib
    import json

    bundle = d.getVar("S")
    manifest_path = os.path.join(bundle, "manifest.json")
    help_text = d.getVar("SSDLITE_BUNDLE_HELP")
    try:
        with open(manifest_path, encoding="utf-8") as manifest_file:
            manifest = json.load(manifest_file)
    except (OSError, ValueError) as error:
        bb.fatal("cannot read the model bundle manifest %s (%s): %s" % (manifest_path, error, help_text))
    if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), dict):
        bb.fatal("%s has no \"files\" table: %s" % (manifest_path, help_text))
    if manifest.get("stand_in"):
        bb.fatal("%s describes the test stand-in model, which must never be shipped: %s"
                 % (d.getVar("SSDLITE_MODEL_DIR"), help_text))

    entries = manifest["files"]
    for name in d.getVar("SSDLITE_BUNDLE_FILES").split():
        if name == "manifest.json":
            continue
        entry = entries.get(name)
        if not isinstance(entry, dict) or "sha256" not in entry:
            bb.fatal("manifest.json lists no sha256 for %s: %s" % (name, help_text))
        path = os.path.join(bundle, name)
        digest = hashlib.sha256()
        with open(path, "rb") as model_file:
            for block in iter(lambda: model_file.read(1 << 20), b""):
                digest.update(block)
        if digest.hexdigest() != str(entry["sha256"]).lower():
            bb.fatal("%s does not match manifest.json (sha256 %s, manifest says %s): "
                     "the bundle was changed after 'ssdlite-tools bundle' wrote it; %s"
                     % (name, digest.hexdigest(), entry["sha256"], help_text))
        if "size" in entry and os.path.getsize(path) != int(entry["size"]):
            bb.fatal("%s is %d bytes, manifest.json says %s: %s"
                     % (name, os.path.getsize(path), entry["size"], help_text))
        bb.note("%s: sha256 %s matches manifest.json" % (name, digest.hexdigest()))
}
addtask verify_bundle after do_unpack before do_configure
do_verify_bundle[doc] = "Checks the model bundle against the sha256 and sizes of its manifest.json and refuses the test stand-in"
# The folder only appears in error messages; the files' contents are what
# matter and they are already in the task hash through SRC_URI's checksums.
do_verify_bundle[vardepsexclude] = "SSDLITE_MODEL_DIR"

do_configure[noexec] = "1"
do_compile[noexec] = "1"

do_install() {
    install -d ${D}${SSDLITE_MODEL_INSTALL_DIR}
    for name in ${SSDLITE_BUNDLE_FILES}; do
        install -m 0644 ${S}/$name ${D}${SSDLITE_MODEL_INSTALL_DIR}/
    done
}

# ${PN}: labels, model.json (how to run the model; the app finds the models
# through it), the licence text if any and provenance (manifest.json), needed
# with either model; the default FILES:${PN} (${datadir}/${BPN}) takes what the
# packages before it leave.
# ${PN}-int8: CPU (XNNPACK) and i.MX 8M Plus NPU (VX delegate).
# ${PN}-vela: i.MX 93 Ethos-U65 only; useless without the Ethos-U delegate.
PACKAGE_BEFORE_PN = "${PN}-int8 ${PN}-vela"

# New packages, so "=" (there is no default to keep).
# nooelint: oelint.var.filesoverride
FILES:${PN}-int8 = "${SSDLITE_MODEL_INSTALL_DIR}/${SSDLITE_BUNDLE_INT8}"
# Also a new package.
# nooelint: oelint.var.filesoverride
FILES:${PN}-vela = "${SSDLITE_MODEL_INSTALL_DIR}/${SSDLITE_BUNDLE_VELA}"

RDEPENDS:${PN}-int8 = "${PN}"
RDEPENDS:${PN}-vela = "${PN}"
