SUMMARY = "SSDLite MobileNetV2 detector: ssdlite-detect and what this SoC runs it on"
DESCRIPTION = "The one package an image adds for object detection: the \
ssdlite-detect app, the int8 model (CPU and i.MX 8M Plus NPU), and what \
differs per SoC: on i.MX 93 the Vela model, the Ethos-U delegate, driver \
stack and firmware; on i.MX 8M Plus the VX delegate; with the live mode, \
NXP's GStreamer elements for the 2D scalers and the VPU."
LICENSE = "MIT"

# What it depends on differs per SoC, while the app and model packages are
# allarch (one copy for every machine): this is the one machine-specific
# package of the layer. Must be set before inheriting packagegroup, which
# otherwise makes the recipe allarch.
PACKAGE_ARCH = "${MACHINE_ARCH}"

inherit packagegroup

RDEPENDS:${PN} = " \
    ${SSDLITE_ACCELERATOR_PACKAGES} \
    ${SSDLITE_LIVE_PACKAGES} \
    ${SSDLITE_NPU_MODEL} \
    ${SSDLITE_SERVICE_PACKAGES} \
    ${SSDLITE_VIDEO_PACKAGES_INSTALLED} \
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

# What each SoC's NPU needs (the app loads /usr/lib/libethosu_delegate.so or
# /usr/lib/libvx_delegate.so); machines without one run the int8 model on the
# CPU with nothing beyond tensorflow-lite, which the app package brings.
SSDLITE_ACCELERATOR_PACKAGES = ""
SSDLITE_ACCELERATOR_PACKAGES:mx93-nxp-bsp = " \
    ethos-u-driver-stack \
    ethos-u-firmware \
    tensorflow-lite-ethosu-delegate \
"
SSDLITE_ACCELERATOR_PACKAGES:mx8mp-nxp-bsp = "tensorflow-lite-vx-delegate"

# NXP's GStreamer elements for the live mode: the 2D scalers and the VPU
# (imxvideoconvert_pxp on i.MX 93; imxvideoconvert_g2d, vpudec and vpuenc_h264
# on i.MX 8M Plus). Elsewhere the live mode scales in software.
SSDLITE_VIDEO_PACKAGES = ""
SSDLITE_VIDEO_PACKAGES:mx93-nxp-bsp = "imx-gst1.0-plugin"
SSDLITE_VIDEO_PACKAGES:mx8mp-nxp-bsp = "imx-gst1.0-plugin"
# They come with the live mode, which the service mode runs on: installed
# when either list above is not empty.
SSDLITE_VIDEO_PACKAGES_INSTALLED = "${@d.getVar('SSDLITE_VIDEO_PACKAGES') if ((d.getVar('SSDLITE_LIVE_PACKAGES') or '') + (d.getVar('SSDLITE_SERVICE_PACKAGES') or '')).strip() else ''}"
