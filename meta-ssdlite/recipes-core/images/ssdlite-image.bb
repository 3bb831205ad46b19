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

# SSDLITE_IMAGE_SERVICE = "1" (local.conf, or kas/service.yml) starts the
# detector at boot as ssdlite-detect.service in this example image, as
# `systemctl enable` would. Products enable it in their own images with
# SSDLITE_SERVICE_AUTO_ENABLE = "enable" (meta-ssdlite/README.md).
SSDLITE_IMAGE_SERVICE ??= "0"
ROOTFS_POSTPROCESS_COMMAND += "${@'ssdlite_enable_service; ' if d.getVar('SSDLITE_IMAGE_SERVICE') == '1' else ''}"

ssdlite_enable_service() {
    unit=${systemd_system_unitdir}/ssdlite-detect.service
    if [ ! -f ${IMAGE_ROOTFS}$unit ]; then
        bbfatal "SSDLITE_IMAGE_SERVICE = 1, but the image has no $unit (is SSDLITE_SERVICE_PACKAGES emptied?)"
    fi
    install -d ${IMAGE_ROOTFS}${sysconfdir}/systemd/system/multi-user.target.wants
    ln -sf $unit ${IMAGE_ROOTFS}${sysconfdir}/systemd/system/multi-user.target.wants/ssdlite-detect.service
}
