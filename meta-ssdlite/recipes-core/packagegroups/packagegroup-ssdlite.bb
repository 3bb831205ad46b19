SUMMARY = "SSDLite MobileNetV2 detector: ssdlite-detect and the models this SoC runs"
DESCRIPTION = "The one package an image adds for object detection: the \
ssdlite-detect app with its TensorFlow Lite delegates, the int8 model (CPU \
and i.MX 8M Plus NPU) and, on i.MX 93, the Vela model for the Ethos-U65."
LICENSE = "MIT"

# The model set differs per SoC; must be set before inheriting packagegroup,
# which otherwise makes the recipe allarch.
PACKAGE_ARCH = "${MACHINE_ARCH}"

inherit packagegroup

RDEPENDS:${PN} = " \
    ${SSDLITE_LIVE_PACKAGES} \
    ${SSDLITE_NPU_MODEL} \
    ${SSDLITE_SERVICE_PACKAGES} \
    python3-ssdlite-detect \
    ssdlite-mobilenetv2-int8 \
"

# The live mode (cameras, video files, RTSP: GStreamer and PyGObject). A
# still-images-only product drops it with SSDLITE_LIVE_PACKAGES = "" in its
# local.conf or distro configuration.
SSDLITE_LIVE_PACKAGES ??= "python3-ssdlite-detect-live"

# The service mode (ssdlite-detect.service, installed disabled: the live web
# view, the HTTP API, MQTT; it pulls in the live mode). Dropped with
# SSDLITE_SERVICE_PACKAGES = ""; a still-images-only product empties both.
SSDLITE_SERVICE_PACKAGES ??= "python3-ssdlite-detect-service"

# The int8 model runs everywhere (CPU, and the 8M Plus NPU through the VX
# delegate); the i.MX 93 also gets the Ethos-U65 build of it and keeps the
# int8 model as its CPU fallback.
SSDLITE_NPU_MODEL = ""
SSDLITE_NPU_MODEL:mx93-nxp-bsp = "ssdlite-mobilenetv2-vela"
