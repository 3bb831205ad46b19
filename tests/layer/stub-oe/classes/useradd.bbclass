# Stand-in for oe-core's useradd.bbclass (see ../README.md): the parse-time
# checks of mickledore's update_useradd_after_parse().
python __anonymous() {
    packages = d.getVar("USERADD_PACKAGES")
    if not packages:
        bb.fatal("%s inherits useradd but doesn't set USERADD_PACKAGES" % d.getVar("FILE", False))
    for pkg in packages.split():
        if not any(d.getVar(var + ":" + pkg) for var in ("USERADD_PARAM", "GROUPADD_PARAM", "GROUPMEMS_PARAM")):
            bb.fatal("%s inherits useradd but doesn't set USERADD_PARAM, GROUPADD_PARAM or GROUPMEMS_PARAM for package %s"
                     % (d.getVar("FILE", False), pkg))
}
