"""The live mode: detections on cameras, video files, RTSP streams and a test pattern.

    from ssdlite_detect import Detector
    from ssdlite_detect.live import DetectionStream, VideoSource, parse_source

    detector = Detector()
    source = VideoSource(parse_source("camera"), detector.input_size)
    for result in DetectionStream(detector, source, max_frames=100):
        print(result.frame, result.timing_ms["latency"], [d.label for d in result.detections])

| module | concern |
| --- | --- |
| `elements` | which GStreamer elements scale, decode and encode on this SoC (data, decided once) |
| `pipeline` | what a SOURCE argument means; the pipeline text for it (pure) |
| `frames` | buffer bytes -> RGB views with the right stride and channel order (pure numpy) |
| `gst` | importing GStreamer through PyGObject, with a clear error where it is missing |
| `source` | `VideoSource`: a running pipeline that delivers model-sized frames, bounded waits |
| `stream` | `DetectionStream`: capture, inference and post-processing in overlapping threads |
| `recorder` | `VideoRecorder`: the annotated video (`--output FILE`) |
| `command` | the `ssdlite-detect --source` command line |

Nothing here is imported by the still-image path: an image built without GStreamer still detects
objects in photos.
"""
from __future__ import annotations

from .pipeline import SourceSpec, SourceSpecError, parse_source
from .source import EndOfStream, Frame, VideoSource
from .stream import DetectionStream, LiveStats

__all__ = [
    "DetectionStream", "EndOfStream", "Frame", "LiveStats", "SourceSpec", "SourceSpecError",
    "VideoSource", "parse_source",
]
