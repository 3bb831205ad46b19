# Stand-in for oe-core's python_setuptools_build_meta.bbclass and
# python_pep517.bbclass (see ../README.md): build a wheel from ${S} with
# setuptools' PEP 517 backend, without build isolation (no network), and
# install it into ${D} with pypa/installer. SSDLITE_TEST_PYTHON plays
# nativepython3 (a venv with setuptools 67.6.0, wheel, build and installer);
# SSDLITE_TEST_STUBDIR is this folder.
PEP517_WHEEL_PATH = "${WORKDIR}/dist"
PEP517_INSTALL_PYTHON = "python3"
# As python_pep517.bbclass: pypa/installer precompiles every module (optimisation level 0) with
# the native python at build time, so the board never writes __pycache__ itself.
INSTALL_WHEEL_COMPILE_BYTECODE ?= "--compile-bytecode=0"
FILES:${PN} += "${PYTHON_SITEPACKAGES_DIR}"

do_configure() {
    :
}

do_compile() {
    ${SSDLITE_TEST_PYTHON} -m build --no-isolation --wheel --outdir ${PEP517_WHEEL_PATH} ${S}
}

do_install() {
    ${SSDLITE_TEST_PYTHON} ${SSDLITE_TEST_STUBDIR}/scripts/install-wheel.py \
        ${PEP517_WHEEL_PATH}/*.whl ${D} ${PYTHON_SITEPACKAGES_DIR} ${bindir} ${prefix} \
        "${USRBINPATH}/env ${PEP517_INSTALL_PYTHON}" ${INSTALL_WHEEL_COMPILE_BYTECODE}
}
