"""VideoSource on real GStreamer pipelines: frames, sizes, indexes, timestamps and every error
as one SourceError line within a bounded time. The board's cameras cannot exist here: device
errors are checked with the messages v4l2src posts (injected) and with real device nodes that
are not cameras."""
from __future__ import annotations

import os
import time

import numpy as np
import pytest
from PIL import Image

from ssdlite_detect.errors import SourceError
from ssdlite_detect.live.elements import SOFTWARE_CHAIN
from ssdlite_detect.live.pipeline import parse_source
from ssdlite_detect.live.source import EndOfStream, VideoSource, explain_error

from live.live_media import encode_clip, frames_of


def open_source(text, model_size=(300, 300), **options):
    spec_options = {key: options.pop(key) for key in ("size", "fps", "realtime") if key in options}
    return VideoSource(parse_source(str(text), **spec_options), model_size, chain=SOFTWARE_CHAIN, **options)


def read_all(source, limit=1000, timeout=20.0, on_frame=lambda _frames: None):
    """Every frame until the end; SourceError propagates (frames read so far are in .frames).
    on_frame(frames so far): called after each frame, e.g. to change the source midway."""
    frames = []
    deadline = time.monotonic() + timeout
    read_all.frames = frames
    with source:
        while len(frames) < limit:
            assert time.monotonic() < deadline, "the source hung"
            try:
                frame = source.read(0.2)
            except EndOfStream:
                break
            if frame is not None:
                frames.append(frame)
                on_frame(frames)
    return frames


def test_lossless_file_frames_are_the_exact_pixels(raw_mkv, still_frames):
    frames = read_all(open_source(raw_mkv))
    assert [f.index for f in frames] == list(range(len(still_frames)))
    assert [f.pts_ms for f in frames] == [100.0 * i for i in range(len(still_frames))]
    for frame, still in zip(frames, still_frames):
        assert (frame.width, frame.height) == (300, 300)
        with Image.open(still) as image:
            np.testing.assert_array_equal(frame.pixels, np.asarray(image.convert("RGB")))


def test_png_in_quicktime_is_lossless_too(png_mov, still_frames):
    frames = read_all(open_source(png_mov))
    assert len(frames) == len(still_frames)
    with Image.open(still_frames[-1]) as image:
        np.testing.assert_array_equal(frames[-1].pixels, np.asarray(image))


@pytest.mark.parametrize("clip", ["bus_h264_mp4", "bus_mjpeg_avi"])
def test_large_lossy_clips_are_scaled_to_the_model_input(request, clip):
    frames = read_all(open_source(request.getfixturevalue(clip), model_size=(300, 300)))
    assert len(frames) in (24, 8)
    assert all((f.width, f.height) == (1280, 720) and f.pixels.shape == (300, 300, 3) for f in frames)
    assert [f.index for f in frames] == list(range(len(frames)))


def test_frames_are_stretched_like_stills_never_letterboxed(gst, tmp_path):
    """A 600x200 frame, red left half and blue right half, becomes 300x300 red|blue edge to edge."""
    image = Image.new("RGB", (600, 200), (255, 0, 0))
    image.paste((0, 0, 255), (300, 0, 600, 200))
    clip = encode_clip(gst, [image], tmp_path / "wide.mkv", "matroskamux")
    (frame,) = read_all(open_source(clip))
    pixels = frame.pixels.astype(int)
    assert (frame.width, frame.height) == (600, 200)
    for row in (0, 150, 299):  # no border rows above or below
        assert pixels[row, 5, 0] > 200 and pixels[row, 5, 2] < 50
        assert pixels[row, 294, 2] > 200 and pixels[row, 294, 0] < 50


def test_non_square_model_inputs(raw_mkv):
    frames = read_all(open_source(raw_mkv, model_size=(240, 320)))
    assert frames[0].pixels.shape == (240, 320, 3) and (frames[0].width, frames[0].height) == (300, 300)


def test_testsrc_is_live_with_the_requested_size(gst):
    source = open_source("testsrc", size=(320, 240), fps=60)
    with source:
        frames = []
        while len(frames) < 5:
            frame = source.read(1.0)
            if frame is not None:
                frames.append(frame)
                time.sleep(0.05)  # slower than the source: the newest frame wins, others drop
    assert all((f.width, f.height) == (320, 240) for f in frames)
    indexes = [f.index for f in frames]
    assert indexes == sorted(indexes) and indexes[-1] - indexes[0] > len(frames)  # frames were dropped
    assert all(f.captured_at <= time.perf_counter() for f in frames)


def test_rtsp_stream_from_a_real_server(rtsp_server):
    source = open_source(rtsp_server.url)
    with source:
        frames = []
        deadline = time.monotonic() + 15
        while len(frames) < 3 and time.monotonic() < deadline:
            frame = source.read(0.5)
            if frame is not None:
                frames.append(frame)
    assert len(frames) == 3 and (frames[0].width, frames[0].height) == (320, 240)


# --- errors --------------------------------------------------------------------------------------

def expect_error(source, *fragments, within=15.0):
    start = time.monotonic()
    with pytest.raises(SourceError) as caught:
        read_all(source, timeout=within + 5)
    assert time.monotonic() - start < within, "took too long to fail"
    message = str(caught.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message, message
    return message


def test_missing_file(tmp_path):
    expect_error(open_source(tmp_path / "none.mp4"), "none.mp4: no such file")


def test_directory(tmp_path):
    expect_error(open_source(tmp_path), "is a directory")


def test_a_fifo_is_refused_at_once_instead_of_blocking(tmp_path):
    # filesrc would block for ever in open() on a FIFO nobody writes to, deaf to SIGTERM.
    fifo = tmp_path / "camera.mp4"
    os.mkfifo(fifo)
    started = time.monotonic()
    expect_error(open_source(fifo), "camera.mp4: is a FIFO, not a video file")
    assert time.monotonic() - started < 5


def test_a_file_name_that_is_not_utf8_is_read(raw_mkv, still_frames, tmp_path):
    name = os.path.join(os.fsencode(tmp_path), b"caf\xe9 clip.mkv")  # Latin-1 bytes, not UTF-8
    os.symlink(os.fsencode(raw_mkv), name)
    frames = read_all(open_source(os.fsdecode(name)))
    assert len(frames) == len(still_frames)


def test_text_file_is_not_a_video(tmp_path):
    path = tmp_path / "notes.mp4"
    path.write_text("not a video\n" * 100)
    expect_error(open_source(path), "notes.mp4: not a video file")


def test_random_bytes_are_not_a_video(tmp_path):
    path = tmp_path / "noise.mkv"
    path.write_bytes(os.urandom(50_000))
    expect_error(open_source(path), "noise.mkv", "not a video file")


def test_audio_only_file_has_no_video(gst, tmp_path):
    path = tmp_path / "audio.mkv"
    pipeline = gst.Gst.parse_launch(f"audiotestsrc num-buffers=20 ! vorbisenc ! matroskamux ! filesink location={path}")
    pipeline.set_state(gst.Gst.State.PLAYING)
    pipeline.get_bus().timed_pop_filtered(10 * gst.Gst.SECOND, gst.Gst.MessageType.EOS)
    pipeline.set_state(gst.Gst.State.NULL)
    expect_error(open_source(path), "audio.mkv: has no video stream")


def test_a_file_with_audio_and_video_plays_its_video(gst, tmp_path):
    """The no-video check (decodebin's no-more-pads with no video stream among them) does not
    fire on a file whose audio stream comes with a video one."""
    path = tmp_path / "both.mkv"
    pipeline = gst.Gst.parse_launch(
        f"matroskamux name=mux ! filesink location={path} "
        "audiotestsrc num-buffers=20 ! vorbisenc ! mux. "
        "videotestsrc num-buffers=10 ! video/x-raw,width=320,height=240,framerate=10/1 ! jpegenc ! mux.")
    pipeline.set_state(gst.Gst.State.PLAYING)
    pipeline.get_bus().timed_pop_filtered(10 * gst.Gst.SECOND, gst.Gst.MessageType.EOS)
    pipeline.set_state(gst.Gst.State.NULL)
    assert len(read_all(open_source(path))) == 10


def test_truncated_file_reports_the_frames_before_the_damage(raw_mkv, tmp_path):
    data = raw_mkv.read_bytes()
    path = tmp_path / "truncated.mkv"
    path.write_bytes(data[: len(data) // 2])
    message = expect_error(open_source(path), "truncated or corrupt")
    frames = read_all.frames
    assert 0 < len(frames) < 6 and [f.index for f in frames] == list(range(len(frames)))
    last = (len(frames) - 1) * 0.1
    assert f"stops at {last:.2f} s of its 0.60 s after {len(frames)} frame(s)" in message


def test_corrupt_frame_part_way_reports_the_frames_before_it(gst, still_frames, tmp_path):
    """Zeroes in a PNG frame three quarters into a 12-frame clip (past what the model branch's
    queue and appsink hold, so the error cannot come before the pipeline plays: halfway into a
    6-frame clip it sometimes did, and no frame came): the frames before it are returned, then
    one error line naming how many. How GStreamer ends such a file varies with where the damage
    falls: pngdec fails the stream ("corrupt video after N frame(s)"), or drops the frame and the
    stream ends early (here, 15 runs of 15: "the video stops at 0.80 s of its 1.20 s after 9
    frame(s): the file is truncated or corrupt"), or, seen about once in 30 to 60 runs with the
    damage halfway, hangs on it, which the stall timeout turns into "source lost ... after N
    frame(s)": each an error after the frames, never a hang."""
    frames = frames_of(still_frames) * 2
    clip = encode_clip(gst, frames, tmp_path / "png.mov", "pngenc ! qtmux")
    data = bytearray(clip.read_bytes())
    damage = len(data) * 3 // 4
    data[damage:damage + 2000] = bytes(2000)  # zeroes in a PNG frame: a decoding error
    clip.write_bytes(bytes(data))
    start = time.monotonic()
    with pytest.raises(SourceError) as caught:
        read_all(open_source(clip, stall_timeout=3.0))
    message = str(caught.value)
    assert time.monotonic() - start < 10 and "\n" not in message
    count = len(read_all.frames)
    assert 6 <= count < len(frames), message  # the frames before the damage, not one after it
    assert f"after {count} frame(s)" in message and ("corrupt" in message or "source lost" in message), message


def test_missing_device_node():
    expect_error(open_source("/dev/video99"), "/dev/video99: no such device")


def test_device_node_that_is_not_a_camera():
    expect_error(open_source("/dev/null"), "/dev/null: cannot use this device as a camera")


def test_a_plain_file_under_dev_is_not_a_device(tmp_path):
    if not os.path.isfile("/dev/shm/.ssdlite-test") and os.access("/dev/shm", os.W_OK):
        open("/dev/shm/.ssdlite-test", "w").close()
        try:
            expect_error(open_source("/dev/shm/.ssdlite-test"), "not a device node")
        finally:
            os.unlink("/dev/shm/.ssdlite-test")
    else:
        pytest.skip("/dev/shm is not writable here")


def test_no_camera_on_this_machine(gst):
    """This host has no capture device (a board without its camera attached behaves the same)."""
    from ssdlite_detect.live.source import find_camera

    monitor = gst.Gst.DeviceMonitor.new()
    monitor.add_filter("Video/Source", None)
    monitor.start()
    cameras = monitor.get_devices()
    monitor.stop()
    if cameras:
        pytest.skip("this machine has a camera")
    with pytest.raises(SourceError, match="camera: no video capture device found"):
        find_camera(gst)


def test_rtsp_server_that_never_answers_times_out(silent_server):
    """rtspsrc's TCP timeout (set from connect_timeout) or our first-frame deadline: either way
    one line, within the timeout plus a little."""
    message = expect_error(open_source(silent_server, connect_timeout=2.0), silent_server, within=6.0)
    assert "cannot connect to the RTSP server" in message or "no answer within 2 s" in message


def test_rtsp_connection_refused_fails_quickly(closed_port_url):
    expect_error(open_source(closed_port_url, connect_timeout=5.0), "rtsp://127.0.0.1:", within=8.0)


def test_rtsp_password_is_not_in_the_error(silent_server):
    url = silent_server.replace("rtsp://", "rtsp://admin:hunter2@")
    message = expect_error(open_source(url, connect_timeout=1.0), "admin:***@", within=8.0)
    assert "hunter2" not in message


def inject_error(gst, source, domain, code, text, debug=""):
    """Post the ERROR a source element posts (v4l2src when its camera is unplugged, say)."""
    Gst, GLib = gst.Gst, gst.GLib
    element = source.pipeline.get_by_name("src")
    error = GLib.Error.new_literal(domain.quark(), text, code)
    element.post_message(Gst.Message.new_error(element, error, debug))


def test_camera_unplugged_mid_run_reports_frames_then_one_error(gst):
    """The unplug is injected: the message is the one v4l2src posts when its device goes away."""
    source = open_source("testsrc")
    frames = []
    with source:
        while len(frames) < 3:
            frame = source.read(1.0)
            if frame is not None:
                frames.append(frame)
        source.spec = parse_source("/dev/video0")  # report as the camera it stands in for
        inject_error(gst, source, gst.Gst.ResourceError, gst.Gst.ResourceError.READ,
                     "Could not read from resource.", "poll error 1: No such device (19)")
        with pytest.raises(SourceError) as caught:
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                source.read(0.2)
    assert str(caught.value).startswith("/dev/video0: camera lost after ")


def test_a_source_that_stops_sending_is_lost_after_the_stall_timeout(gst):
    source = open_source("testsrc", stall_timeout=1.0)
    with source:
        while source.read(1.0) is None:
            pass
        # Frames stop, no error: every buffer the source makes is dropped at its pad. (Pausing the
        # element instead raced with the pipeline's own state changes on a loaded host, which set it
        # playing again: a source that never stalled.)
        Gst = gst.Gst
        source.pipeline.get_by_name("src").get_static_pad("src").add_probe(
            Gst.PadProbeType.BUFFER, lambda _pad, _info: Gst.PadProbeReturn.DROP)
        with pytest.raises(SourceError, match="source lost: no frame for 1 s"):
            deadline = time.monotonic() + 15  # generous: the frames already queued come first
            while time.monotonic() < deadline:
                source.read(0.2)


@pytest.mark.parametrize("source, domain, code, text, debug, frames, expected", [
    ("/dev/video0", "ResourceError", "BUSY", "Device '/dev/video0' is busy", "", 0,
     "/dev/video0: device busy (another process is using it)"),
    ("/dev/video0", "ResourceError", "NOT_AUTHORIZED", "Permission denied", "", 0, "/dev/video0: permission denied"),
    ("/dev/video0", "StreamError", "FAILED", "Internal data stream error.",
     "streaming stopped, reason not-negotiated (-4)", 0,
     "/dev/video0: the camera cannot give the requested format, size or frame rate"),
    ("/dev/video0", "ResourceError", "READ", "Could not read from resource.", "poll error", 12,
     "/dev/video0: camera lost after 12 frame(s) (Could not read from resource.)"),
    ("rtsp://u:p@cam/x", "ResourceError", "NOT_AUTHORIZED", "Unauthorized", "", 0,
     "rtsp://u:***@cam/x: not authorised (check the URL's user and password)"),
    ("clip.mp4", "StreamError", "CODEC_NOT_FOUND", "Your GStreamer installation is missing a plug-in.",
     "no suitable plugins found:\nMissing decoder: H.265 (Main Profile) (video/x-h265)\n", 0,
     "clip.mp4: no decoder for H.265 (Main Profile) (video/x-h265) on this system"),
    ("clip.mp4", "StreamError", "DECODE", "Could not decode stream.", "", 40,
     "clip.mp4: corrupt video after 40 frame(s) (Could not decode stream.)"),
])
def test_errors_in_the_users_terms(gst, source, domain, code, text, debug, frames, expected):
    Gst, GLib = gst.Gst, gst.GLib
    domain_class = getattr(Gst, domain)
    error = GLib.Error.new_literal(domain_class.quark(), text, getattr(domain_class, code))
    assert explain_error(gst, parse_source(source), error, debug, "src", frames) == expected


@pytest.mark.parametrize("scaled_format", ["BGR", "RGBA", "BGRx"])
def test_the_hardware_chains_output_formats_give_the_same_pixels(raw_mkv, still_frames, scaled_format):
    """The PXP emits BGR and the G2D RGBA (no 24-bit RGB): a chain with the same output formats,
    its scaler played here by videoscale (NXP's elements cannot exist on this host), gives the
    exact pixels of the software chain."""
    from ssdlite_detect.live.elements import VideoChain

    stand_in = VideoChain("stand-in", "videoscale", scaled_format)
    source = VideoSource(parse_source(str(raw_mkv)), (300, 300), chain=stand_in)
    frames = read_all(source)
    assert len(frames) == len(still_frames)
    for frame, still in zip(frames, still_frames):
        with Image.open(still) as image:
            np.testing.assert_array_equal(frame.pixels, np.asarray(image.convert("RGB")))


def read_frames(source, count, timeout=20.0):
    """The next `count` frames of a started source."""
    frames = []
    deadline = time.monotonic() + timeout
    while len(frames) < count:
        assert time.monotonic() < deadline, "the source hung"
        frame = source.read(0.2)
        if frame is not None:
            frames.append(frame)
    return frames


def test_display_frames_come_only_while_someone_wants_them(gst):
    """The display branch's valve: closed from the start (no full-size frame, the branch's appsink
    gets nothing), open while any owner wants frames, closed again when the last one stops."""
    with open_source("testsrc", size=(320, 240), fps=60, display=True) as source:
        valve = source.pipeline.get_by_name("display_valve")
        assert valve.get_property("drop") is True
        assert all(f.display is None for f in read_frames(source, 10))
        assert source._display_sink.try_pull_sample(0) is None  # nothing was converted
        recorder, viewer = object(), object()
        source.want_display(recorder, True)
        source.want_display(viewer, True)
        assert valve.get_property("drop") is False
        frames = read_frames(source, 20)
        shown = [f for f in frames if f.display is not None]
        assert len(shown) >= 15  # the first frames after opening may have passed the tee before it
        assert shown[-1].display.shape == (240, 320, 3)
        source.want_display(recorder, False)  # the viewer still wants them
        assert valve.get_property("drop") is False
        assert read_frames(source, 5)[-1].display is not None
        source.want_display(viewer, False)
        assert valve.get_property("drop") is True
        read_frames(source, 3)  # what passed the valve before it closed is let go
        assert all(f.display is None for f in read_frames(source, 10))
        assert source._display_sink.try_pull_sample(int(0.2 * 1e9)) is None


def test_a_file_with_its_display_branch_closed_plays_and_opens_midway(gst, still_frames, tmp_path):
    """A file has back-pressure and prerolls: a closed valve must neither hold the pipeline in
    PAUSED (the display appsink waits for no frame) nor, once open, pair frames wrongly."""
    stills = frames_of(still_frames)
    clip = encode_clip(gst, stills * 5, tmp_path / "stills-x5.mkv", "matroskamux")  # 30 lossless frames
    source = open_source(clip, display=True)
    owner = object()

    def open_valve_after_two(frames):
        if len(frames) == 2:
            source.want_display(owner, True)

    frames = read_all(source, on_frame=open_valve_after_two)
    assert [f.index for f in frames] == list(range(30))
    assert all(f.display is None for f in frames[:2])
    # The frames already past the tee when the valve opened (the model branch's queue and
    # appsink: at most 6) come without; every later one with its own full-size frame.
    assert all(f.display is not None for f in frames[2 + 7:])
    for frame in frames:
        if frame.display is not None:
            np.testing.assert_array_equal(frame.display, np.asarray(stills[frame.index % len(stills)]))


def test_display_wanted_before_start_gives_every_file_frame(raw_mkv, still_frames):
    source = open_source(raw_mkv, display=True)
    source.want_display("recorder", True)
    frames = read_all(source)
    assert len(frames) == len(still_frames)
    assert all(f.display is not None for f in frames)
