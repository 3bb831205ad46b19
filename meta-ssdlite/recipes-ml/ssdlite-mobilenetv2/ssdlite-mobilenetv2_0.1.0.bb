SUMMARY = "SSDLite MobileNetV2 COCO detector models (int8 and Ethos-U65 Vela) and labels"
DESCRIPTION = "The model bundle written by ssdlite-tools: SSDLite MobileNetV2 \
trained on COCO (TensorFlow detection model zoo), quantised to int8 for the \
CPU and the i.MX 8M Plus NPU (VX delegate), the same model compiled with Vela \
for the i.MX 93 Ethos-U65, the 91 COCO labels and the bundle manifest. \
Installed in ${SSDLITE_MODEL_INSTALL_DIR}."
HOMEPAGE = "https://github.com/tensorflow/models/blob/master/research/object_detection/g3doc/tf1_detection_zoo.md"
SECTION = "ml"
LICENSE = "Apache-2.0"
# The bundle carries no license file of its own: the model zoo's checkpoints are
# published under the plain Apache-2.0 text that oe-core ships.
# nooelint: oelint.var.licenseremotefile
LIC_FILES_CHKSUM = "file://${COMMON_LICENSE_DIR}/Apache-2.0;md5=89aea4e17d99a7cacdbeed46a0096b10"

# The bundle is a build artifact of this repository (`make bundle`, which runs
# `ssdlite-tools bundle`), not something to download: it is taken from the
# local folder SSDLITE_MODEL_DIR. Set SSDLITE_MODEL_DIR (local.conf, or the
# environment through kas) to install a retrained model instead.
SSDLITE_MODEL_DIR ??= "${SSDLITE_REPO_DIR}/model-bundle"
# FILESEXTRAPATHS in a recipe (not a bbappend) because the files are outside
# the layer by design; it keeps the absolute folder out of the task hashes.
# nooelint: oelint.vars.fileextrapaths,oelint.vars.outofcontext
FILESEXTRAPATHS:prepend := "${SSDLITE_MODEL_DIR}:"

SRC_URI = " \
    file://ssdlite_mobilenetv2_coco_int8.tflite;subdir=bundle \
    file://ssdlite_mobilenetv2_coco_int8_vela.tflite;subdir=bundle \
    file://coco_labels.txt;subdir=bundle \
    file://manifest.json;subdir=bundle \
"

S = "${WORKDIR}/bundle"

# Plain data: the same files suit every machine, so they are built once. Which
# board gets which model is decided by packagegroup-ssdlite (machine-specific).
inherit allarch

# The model and label files of SRC_URI, as named in manifest.json's "files".
SSDLITE_BUNDLE_FILES = "ssdlite_mobilenetv2_coco_int8.tflite ssdlite_mobilenetv2_coco_int8_vela.tflite coco_labels.txt"
SSDLITE_MODEL_INSTALL_DIR = "${datadir}/ssdlite-mobilenetv2"
SSDLITE_BUNDLE_HELP = "run 'make bundle' (ssdlite-tools bundle) in the meta-ssdlite repository to create the model bundle, or set SSDLITE_MODEL_DIR to a folder holding one"

# Without a bundle the recipe is skipped (with the reason below) rather than
# failing the whole parse: the local fetcher aborts parsing when a file:// entry
# is missing, which would stop every other build that uses this layer. Only
# anonymous python can skip a recipe for a reason other than COMPATIBLE_*.
# nooelint: oelint.task.noanonpython
python () {
    bundle = d.getVar("SSDLITE_MODEL_DIR")
    names = d.getVar("SSDLITE_BUNDLE_FILES").split() + ["manifest.json"]
    missing = []
    for name in names:
        path = os.path.join(bundle, name)
        # Parse again once the bundle appears (bitbake caches the skip).
        bb.parse.mark_dependency(d, path)
        if not os.path.isfile(path):
            missing.append(name)
    if missing:
        raise bb.parse.SkipRecipe("model bundle %s lacks %s: %s"
                                  % (bundle, ", ".join(missing), d.getVar("SSDLITE_BUNDLE_HELP")))
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
    install -m 0644 ${S}/ssdlite_mobilenetv2_coco_int8.tflite ${D}${SSDLITE_MODEL_INSTALL_DIR}/
    install -m 0644 ${S}/ssdlite_mobilenetv2_coco_int8_vela.tflite ${D}${SSDLITE_MODEL_INSTALL_DIR}/
    install -m 0644 ${S}/coco_labels.txt ${D}${SSDLITE_MODEL_INSTALL_DIR}/
    install -m 0644 ${S}/manifest.json ${D}${SSDLITE_MODEL_INSTALL_DIR}/
}

# ${PN}: labels and provenance (manifest.json), needed with either model; the
# default FILES:${PN} (${datadir}/${BPN}) takes what the packages before it leave.
# ${PN}-int8: CPU (XNNPACK) and i.MX 8M Plus NPU (VX delegate).
# ${PN}-vela: i.MX 93 Ethos-U65 only; useless without the Ethos-U delegate.
PACKAGE_BEFORE_PN = "${PN}-int8 ${PN}-vela"

# New packages, so "=" (there is no default to keep).
# nooelint: oelint.var.filesoverride
FILES:${PN}-int8 = "${SSDLITE_MODEL_INSTALL_DIR}/ssdlite_mobilenetv2_coco_int8.tflite"
# Also a new package.
# nooelint: oelint.var.filesoverride
FILES:${PN}-vela = "${SSDLITE_MODEL_INSTALL_DIR}/ssdlite_mobilenetv2_coco_int8_vela.tflite"

RDEPENDS:${PN}-int8 = "${PN}"
RDEPENDS:${PN}-vela = "${PN}"
