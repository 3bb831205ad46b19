"""Install a wheel into a staging folder with target paths, as poky's patched
pypa/installer does for python_pep517 (`--interpreter`, `--destdir`): console
scripts start with `#!<interpreter>` even though it holds a space (upstream
installer would wrap such an interpreter in a /bin/sh exec trampoline).

usage: install-wheel.py WHEEL DESTDIR SITE_PACKAGES BINDIR PREFIX INTERPRETER [--compile-bytecode=LEVEL]

--compile-bytecode=LEVEL is the option of installer's command line that python_pep517 passes
(INSTALL_WHEEL_COMPILE_BYTECODE); with SOURCE_DATE_EPOCH set, as in every BitBake task, compileall
writes checked-hash .pyc files.
"""

import os
import sys

from installer import install
from installer.destinations import SchemeDictionaryDestination
from installer.sources import WheelFile


def main(argv):
    wheel, destdir, site_packages, bindir, prefix, interpreter = argv[:6]
    levels = tuple(int(arg.split("=", 1)[1]) for arg in argv[6:] if arg.startswith("--compile-bytecode="))
    destination = SchemeDictionaryDestination(
        {
            "purelib": site_packages,
            "platlib": site_packages,
            "scripts": bindir,
            "data": prefix,
            "headers": prefix + "/include",
        },
        interpreter=interpreter,
        script_kind="posix",
        bytecode_optimization_levels=levels,
        destdir=destdir,
    )
    with WheelFile.open(wheel) as source:
        install(source, destination, {"INSTALLER": b"stub-oe"})
    scripts = destdir + bindir
    for name in os.listdir(scripts) if os.path.isdir(scripts) else []:
        path = os.path.join(scripts, name)
        with open(path) as script:
            lines = script.read().splitlines(keepends=True)
        if lines[:3] and lines[0] == "#!/bin/sh\n" and lines[1].startswith("'''exec'"):
            lines = ["#!%s\n" % interpreter] + lines[3:]
            with open(path, "w") as script:
                script.writelines(lines)


if __name__ == "__main__":
    main(sys.argv[1:])
