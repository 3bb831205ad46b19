# Stand-in for oe-core's core-image.bbclass (see ../README.md).
CORE_IMAGE_EXTRA_INSTALL ?= ""
PACKAGES = ""
PACKAGE_ARCH = "${MACHINE_ARCH}"
