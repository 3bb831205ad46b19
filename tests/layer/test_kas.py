"""kas.yml and every fragment under kas/ load with kas's own loader and schema;
every repository is pinned to the commit of NXP's manifest imx-6.1.22-2.0.0.xml.

kas's loader runs `git rev-parse` to find the repository holding the files, so
git must be installed and the tests run from a git checkout."""

from __future__ import annotations

import itertools
import os
import re
from pathlib import Path

import pytest

from conftest import REPO

KAS_FILES = [REPO / "kas.yml"] + sorted((REPO / "kas").glob("*.yml"))
BSP_FACTS = Path(os.environ.get("SSDLITE_SHARED_DIR", REPO.parent / "shared")) / "BSP-FACTS.md"

# (url suffix, commit, branch) from imx-6.1.22-2.0.0.xml, as listed in BSP-FACTS.md.
MANIFEST_PINS = {
    "poky": ("ddb298ce894482467d82699d223c5555baad6591", "mickledore"),
    "meta-openembedded": ("54b177f4acb3048d21a68f180fc183d0fdf47a94", "mickledore"),
    "meta-arm": ("0b5724266a8e559cac1724350c1ff2f9e6580326", "mickledore"),
    "meta-freescale": ("39d8f0d5ee44aae9932923e9fe95b7f2838563af", "master"),
    "meta-freescale-distro": ("a4efa17a9f6b25d8d9290dfee8275059d40b83df", "master"),
    "meta-imx": ("64a864ab77de06a557afcb01e6dd4d21606e6948", "mickledore-6.1.22-2.0.0"),
}
MACHINES_IN_BSP = {"imx93evk", "imx8mpevk", "imx93-11x11-lpddr4x-evk", "imx8mp-lpddr4-evk"}


@pytest.fixture(scope="module")
def kas_context(tmp_path_factory):
    from kas.context import create_global_context
    from kas.kas import kas_get_argparser

    work = tmp_path_factory.mktemp("kas-work")
    old = os.environ.get("KAS_WORK_DIR")
    os.environ["KAS_WORK_DIR"] = str(work)
    try:
        args = kas_get_argparser().parse_args(["dump", str(REPO / "kas.yml")])
        yield create_global_context(args)
    finally:
        if old is None:
            os.environ.pop("KAS_WORK_DIR", None)
        else:
            os.environ["KAS_WORK_DIR"] = old


def load(files):
    """The merged configuration, as `kas build a.yml:b.yml` reads it (the
    loader validates every file against kas's JSON schema)."""
    from kas.includehandler import IncludeHandler

    handler = IncludeHandler([str(f) for f in files], use_lock=False)
    config, missing = handler.get_config()
    assert not missing
    return config


def combinations():
    fragments = KAS_FILES[1:]
    for n in range(len(fragments) + 1):
        for combo in itertools.combinations(fragments, n):
            yield [KAS_FILES[0], *combo]


def test_fragments_exist():
    names = {f.name for f in KAS_FILES}
    assert {"kas.yml", "imx8mp.yml", "accept-fsl-eula.yml"} <= names


@pytest.mark.parametrize("files", list(combinations()), ids=lambda fs: ":".join(f.name for f in fs))
def test_loads_and_validates(kas_context, files):
    config = load(files)
    assert config["machine"] in MACHINES_IN_BSP
    assert config["distro"] == "fsl-imx-xwayland"
    assert config["target"] == "ssdlite-image"


def test_default_is_imx93_and_fragment_switches_to_imx8mp(kas_context):
    assert load([KAS_FILES[0]])["machine"] == "imx93evk"
    assert load([REPO / "kas.yml", REPO / "kas/imx8mp.yml"])["machine"] == "imx8mpevk"


def test_every_repo_is_pinned_to_the_manifest(kas_context):
    repos = load([KAS_FILES[0]])["repos"]
    # This repository's layer, as a local layer (no url, no path).
    assert repos["meta-ssdlite"] == {"layers": {"meta-ssdlite": None}}
    remote = {name: repo for name, repo in repos.items() if name != "meta-ssdlite"}
    assert set(remote) == set(MANIFEST_PINS)
    for name, repo in remote.items():
        commit, branch = MANIFEST_PINS[name]
        assert re.fullmatch(r"[0-9a-f]{40}", repo["commit"]), name
        assert (repo["commit"], repo["branch"]) == (commit, branch), name
        assert repo["url"].startswith("https://"), name
        assert repo["url"].rstrip("/").removesuffix(".git").endswith("/" + name), name


def test_layers_enabled(kas_context):
    repos = load([KAS_FILES[0]])["repos"]
    assert set(repos["poky"]["layers"]) == {"meta", "meta-poky"}
    # The set `bitbake -p` needs with meta-imx's meta-bsp, meta-sdk and meta-ml.
    assert set(repos["meta-openembedded"]["layers"]) == {"meta-oe", "meta-multimedia", "meta-python"}
    assert set(repos["meta-arm"]["layers"]) == {"meta-arm", "meta-arm-toolchain"}
    # meta-ml: tensorflow-lite and delegates; meta-bsp: the imx93evk/imx8mpevk
    # machines; meta-sdk: the fsl-imx-* distros.
    assert set(repos["meta-imx"]["layers"]) == {"meta-bsp", "meta-sdk", "meta-ml"}


def test_eula_is_accepted_only_by_the_explicit_fragment(kas_context):
    for files in combinations():
        config = load(files)
        text = "\n".join((config.get("local_conf_header") or {}).values())
        accepted = 'ACCEPT_FSL_EULA = "1"' in text
        assert accepted == (REPO / "kas/accept-fsl-eula.yml" in files), files
        assert "ACCEPT_FSL_EULA" not in (config.get("env") or {})


def test_caches_and_bundle_come_from_the_environment(kas_context):
    config = load([KAS_FILES[0]])
    text = "\n".join((config.get("local_conf_header") or {}).values())
    # kas passes DL_DIR and SSTATE_DIR through from the environment by itself.
    assert "DL_DIR" not in text and "SSTATE_DIR" not in text
    assert config["env"] == {"SSDLITE_MODEL_DIR": None}


def test_pins_match_bsp_facts():
    if not BSP_FACTS.exists():
        pytest.skip("%s not present" % BSP_FACTS)
    text = BSP_FACTS.read_text()
    for name, (commit, _branch) in MANIFEST_PINS.items():
        row = re.search(r"^\|\s*%s\s*\|.*$" % re.escape(name), text, re.MULTILINE)
        assert row, name
        assert commit in row.group(0), name
