# Stand-in for oe-core's allarch.bbclass (see ../README.md).
PACKAGE_ARCH = "all"
