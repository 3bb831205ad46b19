"""SOURCE arguments and the pipeline text (live.pipeline): pure, plus a check that every
pipeline the app can build parses with the real GStreamer (every element exists here)."""
from __future__ import annotations

import os
import re

import pytest

from ssdlite_detect.live.elements import G2D_CHAIN, PXP_CHAIN, SOFTWARE_CHAIN
from ssdlite_detect.live.pipeline import SourceSpecError, describe_pipeline, parse_source, redact_url


@pytest.mark.parametrize("text, kind, location, live", [
    ("testsrc", "testsrc", "", True),
    ("camera", "camera", "", True),
    ("/dev/video3", "v4l2", "/dev/video3", True),
    ("rtsp://cam.local:8554/stream", "rtsp", "rtsp://cam.local:8554/stream", True),
    ("RTSPS://cam/x", "rtsp", "RTSPS://cam/x", True),
    ("clip.mp4", "file", "clip.mp4", False),
    ("./testsrc", "file", "./testsrc", False),  # a file that happens to be called testsrc
    ("file:///data/clip.mkv", "file", "/data/clip.mkv", False),
])
def test_sources_are_classified(text, kind, location, live):
    spec = parse_source(text)
    assert (spec.kind, spec.location, spec.is_live, spec.drops_frames) == (kind, location, live, live)


def test_realtime_files_drop_frames_like_live_sources():
    spec = parse_source("clip.mkv", realtime=True)
    assert not spec.is_live and spec.drops_frames


@pytest.mark.parametrize("text, options, fragment", [
    ("", {}, "empty"),
    ("http://example.com/a.mp4", {}, "unsupported URL scheme http://"),
    ("rtsp:///path", {}, "no host"),
    ("clip.mp4", {"size": (640, 480)}, "cameras and testsrc only"),
    ("rtsp://cam/x", {"fps": 30}, "cameras and testsrc only"),
    ("testsrc", {"realtime": True}, "video files only"),
])
def test_impossible_sources_are_refused(text, options, fragment):
    with pytest.raises(SourceSpecError, match=fragment):
        parse_source(text, **options)


def test_passwords_never_reach_messages_or_json():
    assert redact_url("rtsp://admin:secret@10.0.0.5:554/live") == "rtsp://admin:***@10.0.0.5:554/live"
    assert parse_source("rtsp://admin:secret@cam/live").name == "rtsp://admin:***@cam/live"
    assert redact_url("rtsp://cam/live") == "rtsp://cam/live"
    # in the query, as some cameras take them
    assert (parse_source("rtsp://cam/live?user=admin&password=secret&channel=1").name
            == "rtsp://cam/live?user=admin&password=***&channel=1")
    assert redact_url("rtsp://cam/s?PWD=secret;access_token=secret#x") == "rtsp://cam/s?PWD=***;access_token=***#x"
    # unencoded "@" or "/" in the password, and text that is not even a URL
    assert redact_url("rtsp://admin:se@cr/et@cam/live") == "rtsp://admin:***@cam/live"
    assert redact_url("admin:secret@cam") == "admin:***@cam"
    # an "@" in a query password is not the end of the user info (found by test_fuzzing.py)
    assert redact_url("mqtt://h:1883?password=sec@ret") == "mqtt://h:1883?password=***"


@pytest.mark.parametrize("text, fragment", [
    ("rtsp://admin:1/secret@cam/live", "an @ in the path"),
    ("rtsp://admin:sec\nret@cam/live", "control characters"),
    ("rtsp://admin:secret@cam/live\tx", "control characters"),
    ("rtsp://admin:secret@cam:99999/live", "not a valid URL"),
    ("rtsp://admin:secret@cam:0/live", "port must be in 1-65535"),
    ("rtsp://admin:secret@[::1/live", "not a valid URL"),
    ("rtsp://admin:secret@ca m/live", "not a host name"),
    ("rtsp://admin:secret@cam/live?password=secret&x=\udcff", "not valid UTF-8"),
])
def test_rtsp_urls_that_cannot_work_are_refused_at_parse_without_the_password(text, fragment):
    with pytest.raises(SourceSpecError, match=re.escape(fragment)) as caught:
        parse_source(text)
    assert "secret" not in str(caught.value)


def test_file_urls_are_decoded():
    assert parse_source("file:///data/my%20clip.mkv").location == "/data/my clip.mkv"
    assert parse_source("file:///data/caf%E9.mkv").location == os.fsdecode(b"/data/caf\xe9.mkv")


def test_live_pipelines_keep_only_the_newest_frame():
    text = describe_pipeline(parse_source("testsrc"), SOFTWARE_CHAIN, (300, 300))
    assert "queue leaky=downstream max-size-buffers=1" in text
    assert "appsink name=model_sink sync=false max-buffers=1 drop=true" in text


def test_files_apply_back_pressure_and_drop_nothing():
    text = describe_pipeline(parse_source("clip.mkv"), SOFTWARE_CHAIN, (300, 300))
    assert "leaky" not in text and "drop=false" in text and "sync=false" in text


def test_realtime_files_are_paced_by_the_clock():
    text = describe_pipeline(parse_source("clip.mkv", realtime=True), SOFTWARE_CHAIN, (300, 300))
    assert "sync=true max-buffers=1 drop=true" in text


def test_user_values_are_never_pasted_into_the_pipeline():
    text = describe_pipeline(parse_source('x" ! fakesink "y.mkv'), SOFTWARE_CHAIN, (300, 300))
    assert "fakesink" not in text and "filesrc name=src !" in text


@pytest.mark.parametrize("source, flips", [
    ("clip.mp4", True), ("file:///data/clip.mov", True),
    ("rtsp://cam/x", False), ("/dev/video0", False), ("camera", False), ("testsrc", False),
])
def test_only_files_follow_their_orientation_tag(source, flips):
    """Containers carry the orientation tag (a phone's rotate-90); RTP and cameras carry none."""
    text = describe_pipeline(parse_source(source), SOFTWARE_CHAIN, (300, 300))
    assert ("decodebin name=decoder ! videoflip name=orientation video-direction=auto ! video/x-raw ! identity name=frames"
            in text) == flips
    assert ("videoflip" in text) == flips


def test_the_display_branch_is_added_only_for_recording():
    assert "display_sink" not in describe_pipeline(parse_source("testsrc"), SOFTWARE_CHAIN, (300, 300))
    text = describe_pipeline(parse_source("testsrc"), SOFTWARE_CHAIN, (300, 300), display=True)
    assert "tee name=split" in text and "appsink name=display_sink" in text


@pytest.mark.parametrize("chain", [SOFTWARE_CHAIN, PXP_CHAIN, G2D_CHAIN], ids=lambda chain: chain.name)
@pytest.mark.parametrize("source", ["testsrc", "/dev/video0", "rtsp://127.0.0.1/x", "clip.mkv"])
def test_every_chains_display_branch_starts_at_a_closed_valve(chain, source):
    """The display branch is the same on every SoC (the hardware scalers are in the model
    branch only): a closed valve that forwards caps and segments, before the branch's queue; its
    appsink does not hold a file's preroll."""
    text = describe_pipeline(parse_source(source), chain, (300, 300), display=True)
    display_branch = text.split(" split. ! ")[2]
    assert display_branch.startswith("valve name=display_valve drop=true drop-mode=forward-sticky-events ! queue ")
    assert "name=display_queue" in display_branch and "async=false" in display_branch
    assert text.count("valve name=") == 1 and "async=false" not in text.split(" split. ! ")[1]  # the model branch


def test_camera_size_and_rate_accept_raw_or_mjpeg():
    text = describe_pipeline(parse_source("/dev/video0", (1280, 720), 30), PXP_CHAIN, (300, 300))
    assert 'caps="video/x-raw,width=1280,height=720,framerate=30/1;image/jpeg,width=1280,height=720,framerate=30/1"' in text
    assert "videoconvert ! imxvideoconvert_pxp ! video/x-raw,format=BGR,width=300,height=300" in text


@pytest.mark.parametrize("source", ["testsrc", "camera", "/dev/video0", "rtsp://127.0.0.1/x", "clip.mkv"])
@pytest.mark.parametrize("display", [False, True])
def test_every_software_pipeline_parses_with_real_gstreamer(gst, source, display):
    Gst = gst.Gst
    pipeline = Gst.parse_launch(describe_pipeline(parse_source(source), SOFTWARE_CHAIN, (300, 300), display))
    for name in ("src", "frames", "model_sink") + (("display_valve", "display_sink") if display else ()):
        assert pipeline.get_by_name(name) is not None
    if display:
        valve = pipeline.get_by_name("display_valve")
        assert valve.get_property("drop") is True
        assert valve.get_property("drop-mode").value_nick == "forward-sticky-events"
        assert valve.get_static_pad("src").get_peer().get_parent_element().get_name() == "display_queue"
        assert pipeline.get_by_name("display_sink").get_property("async") is False
    pipeline.set_state(Gst.State.NULL)


@pytest.mark.parametrize("chain", [PXP_CHAIN, G2D_CHAIN])
def test_hardware_pipelines_fail_here_only_for_the_missing_nxp_element(gst, chain):
    """NXP's elements do not exist on this host: parsing names exactly that element."""
    with pytest.raises(Exception, match=chain.scaler):
        gst.Gst.parse_launch(describe_pipeline(parse_source("testsrc"), chain, (300, 300)))
