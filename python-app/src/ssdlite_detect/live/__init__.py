"""The live mode: detections on cameras, video files, RTSP streams and a test pattern.

    from ssdlite_detect import Detector
    from ssdlite_detect.live import DetectionStream, VideoSource, parse_source

    detector = Detector.open()
    source = VideoSource(parse_source("camera"), detector.input_size)
    for result in DetectionStream(detector, source, max_frames=100):
        print(result.frame, result.timing_ms["latency"], [d.label for d in result.detections])

    # or every output a subscriber of one results stream, the source reopened when lost:
    runner = StreamRunner(detector, SourceOptions(parse_source("camera")), retry=True)

| module | concern |
| --- | --- |
| `elements` | which GStreamer elements scale, decode and encode on this SoC (data, decided once) |
| `pipeline` | what a SOURCE argument means; the pipeline text for it (pure) |
| `frames` | buffer bytes -> RGB views with the right stride and channel order (pure numpy) |
| `gst` | importing GStreamer through PyGObject, with a clear error where it is missing |
| `source` | `VideoSource`: a running pipeline that delivers model-sized frames, bounded waits |
| `stream` | `DetectionStream`: capture, inference and post-processing in overlapping threads |
| `stats` | `StreamStats`: frames processed and dropped, frame rate, latency |
| `hub` | `ResultHub`: the one results stream (ssdlite_detect.pubsub topics), statistics, state |
| `runner` | `StreamRunner`: source -> stream -> hub, for the live CLI and the service; retries |
| `outputs` | the live CLI's outputs as threaded subscribers: text / JSON Lines, the annotated video |
| `recorder` | `VideoRecorder`: the annotated video (`--output FILE`) |

Nothing here is imported by the still-image path: an image built without GStreamer still detects
objects in photos.
"""
from __future__ import annotations

from .hub import ResultHub
from .pipeline import SourceOptions, SourceSpec, SourceSpecError, parse_source
from .runner import StreamRunner
from .source import EndOfStream, Frame, VideoSource
from .stats import StreamStats
from .stream import DetectionStream

__all__ = [
    "DetectionStream", "EndOfStream", "Frame", "ResultHub", "SourceOptions", "SourceSpec", "SourceSpecError",
    "StreamRunner", "StreamStats", "VideoSource", "parse_source",
]
