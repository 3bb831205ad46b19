# Stand-in for oe-core's packagegroup.bbclass (see ../README.md): one empty
# package, allarch unless the recipe set PACKAGE_ARCH before inheriting.
PACKAGES = "${PN}"
PACKAGE_ARCH ?= "all"
PACKAGE_ARCH_EXPANDED := "${PACKAGE_ARCH}"
LICENSE ?= "MIT"
ALLOW_EMPTY:${PN} = "1"
inherit ${@'allarch' if d.getVar('PACKAGE_ARCH_EXPANDED') == 'all' else ''}
