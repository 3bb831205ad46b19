"""The rehearsal's inputs, the same files for aarch64 and x86: bus.jpg, a mirrored and a cropped
copy (other detections), a truncated JPEG, and a video clip for the live mode."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

STILLS_SCRIPT = """
import sys
from PIL import Image, ImageOps
bus = Image.open(sys.argv[1]).convert("RGB")
ImageOps.mirror(bus).save(sys.argv[2] + "/mirror.png")
bus.crop((100, 50, 420, 330)).save(sys.argv[2] + "/crop.png")
"""
# A clip the board decodes in software on both SoCs (jpegdec; poky's plugins-good builds no VP8 and
# the i.MX 93 has no video decoder): MJPEG in AVI, the bus and its mirror image in turn.
CLIP_FRAMES = 4
CLIP_SCRIPT = """
import sys
import numpy as np
from PIL import Image, ImageOps
from ssdlite_detect.live import gst as gst_loader
Gst = gst_loader.load().Gst
bus = Image.open(sys.argv[1]).convert("RGB")
frames = [bus if n % 2 == 0 else ImageOps.mirror(bus) for n in range(int(sys.argv[3]))]
pipeline = Gst.parse_launch(
    f"appsrc name=frames format=time caps=video/x-raw,format=RGB,width={bus.width},height={bus.height},"
    "framerate=5/1 ! videoconvert ! jpegenc quality=90 ! avimux ! filesink name=file")
pipeline.get_by_name("file").set_property("location", sys.argv[2])
source = pipeline.get_by_name("frames")
pipeline.set_state(Gst.State.PLAYING)
for number, frame in enumerate(frames):
    buffer = Gst.Buffer.new_wrapped(np.asarray(frame).tobytes())
    buffer.pts, buffer.duration = number * Gst.SECOND // 5, Gst.SECOND // 5
    source.emit("push-buffer", buffer)
source.emit("end-of-stream")
message = pipeline.get_bus().timed_pop_filtered(60 * Gst.SECOND, Gst.MessageType.EOS | Gst.MessageType.ERROR)
pipeline.set_state(Gst.State.NULL)
sys.exit(0 if message and message.type == Gst.MessageType.EOS else "clip not written")
"""


def make_inputs(folder: Path, reference: Path, x86_python: Path) -> Path:
    """Writes the inputs into `folder` with the x86 app env (Pillow, and Debian's GStreamer for
    the clip)."""
    bus = reference / "bus.jpg"
    shutil.copyfile(bus, folder / "bus.jpg")
    subprocess.run([str(x86_python), "-c", STILLS_SCRIPT, str(bus), str(folder)], check=True)
    subprocess.run([str(x86_python), "-c", CLIP_SCRIPT, str(bus), str(folder / "bus.avi"), str(CLIP_FRAMES)], check=True)
    data = bus.read_bytes()
    (folder / "truncated.jpg").write_bytes(data[: len(data) * 2 // 5])
    return folder
