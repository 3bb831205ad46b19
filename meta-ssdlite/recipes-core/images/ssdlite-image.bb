SUMMARY = "Small console image with the SSDLite MobileNetV2 detector"
DESCRIPTION = "core-image-minimal plus packagegroup-ssdlite: boots to a \
console where 'ssdlite-detect photo.jpg' runs the detector on the CPU or the \
SoC's NPU. An example; products add packagegroup-ssdlite to their own image."
LICENSE = "MIT"

inherit core-image

IMAGE_INSTALL = " \
    packagegroup-core-boot \
    packagegroup-ssdlite \
    ${CORE_IMAGE_EXTRA_INSTALL} \
"

IMAGE_LINGUAS = " "
