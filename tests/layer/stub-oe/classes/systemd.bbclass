# Stand-in for oe-core's systemd.bbclass (see ../README.md): its variables and
# its parse-time check of SYSTEMD_AUTO_ENABLE (mickledore's systemd.bbclass
# fails the same way in systemd_populate_packages).
SYSTEMD_PACKAGES ?= "${PN}"
SYSTEMD_AUTO_ENABLE ??= "enable"

python __anonymous() {
    for pkg in (d.getVar("SYSTEMD_PACKAGES") or "").split():
        action = d.getVar("SYSTEMD_AUTO_ENABLE:" + pkg) or d.getVar("SYSTEMD_AUTO_ENABLE")
        if action not in ("enable", "disable", "mask", "preset"):
            bb.fatal("SYSTEMD_AUTO_ENABLE:%s '%s' is not 'enable', 'disable', 'mask' or 'preset'" % (pkg, action))
        if not d.getVar("SYSTEMD_SERVICE:" + pkg):
            bb.fatal("%s: SYSTEMD_PACKAGES has %s but SYSTEMD_SERVICE:%s is not set" % (d.getVar("PN"), pkg, pkg))
}
