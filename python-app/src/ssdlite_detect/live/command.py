"""`ssdlite-detect --source SOURCE`: the live mode's command line, over DetectionStream.

stdout gets one line (or one JSON object) per processed frame; stderr gets notes, errors and a
summary at the end. SIGINT and SIGTERM stop the stream cleanly: every line printed is complete
and the annotated video, if any, is finished so that it plays.
"""
from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import time
from typing import Callable, Optional

from ..errors import DetectError
from ..results import FrameResult
from .elements import encoder_note
from .source import VideoSource
from .stream import DetectionStream, LiveStats

TERMINAL_LINES_PER_SECOND = 5  # text output on a terminal is throttled to what a person can read


def format_frame(result: FrameResult, max_labels: int = 6) -> str:
    """One line: frame index, time, the detections (best first) and where the time went."""
    timing = result.timing_ms
    when = f" {result.pts_ms / 1000.0:.2f} s" if result.pts_ms is not None else ""
    labels = ", ".join(f"{d.label} {d.score:.0%}" for d in result.detections[:max_labels])
    if len(result.detections) > max_labels:
        labels += f", +{len(result.detections) - max_labels} more"
    return (f"frame {result.frame}{when}: {len(result.detections)} object(s)"
            f"{': ' + labels if labels else ''} [inference {timing['inference']:.1f} ms, "
            f"latency {timing['latency']:.1f} ms]")


def format_summary(name: str, stats: LiveStats, backend: str, scaler: str) -> str:
    summary = stats.summary()
    latency = (f"latency median {summary['latency_median_ms']:.1f} ms, p90 {summary['latency_p90_ms']:.1f} ms"
               if summary["latency_median_ms"] is not None else "no latency measured")
    return (f"{name}: {summary['frames']} frame(s) processed, {summary['dropped']} dropped, "
            f"{summary['fps']:.1f} FPS, {latency}, {backend}, {scaler} scaling")


class _ThrottledPrinter:
    """Prints every line when stdout is a file or pipe; at most N per second on a terminal."""

    def __init__(self, stream, json_lines: bool):
        self.stream = stream
        self.json_lines = json_lines
        self.interval = 0.0 if json_lines or not stream.isatty() else 1.0 / TERMINAL_LINES_PER_SECOND
        self._last = 0.0

    def __call__(self, result: FrameResult) -> None:
        if self.json_lines:
            self.stream.write(json.dumps(result.to_dict()) + "\n")
            self.stream.flush()
            return
        now = time.monotonic()
        if self.interval and now - self._last < self.interval:
            return
        self._last = now
        self.stream.write(format_frame(result) + "\n")
        self.stream.flush()


def run_live(args, detector, spec, note: Callable[[str], None], error: Callable[[str], None]) -> int:
    """Run the stream the parsed `args` describe; returns the exit status."""
    from .recorder import VideoRecorder

    source = VideoSource(
        spec, detector.input_size, platform=detector.platform, display=bool(args.output),
        connect_timeout=args.connect_timeout, on_note=note,
    )
    recorder: Optional[VideoRecorder] = VideoRecorder(args.output, source.chain) if args.output else None
    if recorder is not None:
        missing_encoder = encoder_note(detector.platform.soc, source.chain)
        if missing_encoder:
            note(missing_encoder)
    stream = DetectionStream(detector, source, max_frames=args.frames, duration=args.duration)
    printer = _ThrottledPrinter(sys.stdout, args.json)
    status = 0

    def stop(_signum, _frame) -> None:
        stream.stop()

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        with contextlib.closing(stream.results_with_frames()) as results:
            for result, frame in results:
                printer(result)
                if recorder is not None and frame.display is not None:
                    recorder.write(frame.display, result.detections, result.pts_ms, source.frame_rate)
    except DetectError as failure:
        error(str(failure))
        status = failure.exit_code
    except BrokenPipeError:
        # The reader went away (`| head`): stop quietly, and point stdout at /dev/null so that
        # Python's own flush at exit does not report the broken pipe again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        stream.stop()
        if recorder is not None:
            try:
                recorder.close()
            except DetectError as failure:
                error(str(failure))
                status = status or failure.exit_code
        if stream.stats.processed or status == 0:  # a source that failed before any frame: its error says it all
            note(format_summary(source.name, stream.stats, detector.backend, source.chain.name))
    return status
