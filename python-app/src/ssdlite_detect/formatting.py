"""Text formatting of results, for every mode: a still image, a benchmark report, a video frame,
and the summaries the live CLI and the service print when they stop. Pure: strings in and out."""
from __future__ import annotations

from typing import Mapping


def format_image(result) -> str:
    """A still image's DetectionResult: a header line, then one line per detection."""
    timing = result.timing_ms
    lines = [
        f"{result.image}: {len(result.detections)} object(s), {result.width}x{result.height}, "
        f"{result.backend}, preprocess {timing['preprocess']:.1f} ms, inference {timing['inference']:.1f} ms, "
        f"postprocess {timing['postprocess']:.1f} ms"
    ]
    for detection in result.detections:
        box = ", ".join(f"{v:.0f}" for v in detection.box.as_list())
        lines.append(f"  {detection.label:<16} {detection.score:5.1%}  [{box}]")
    return "\n".join(lines)


def format_benchmark(report: Mapping) -> str:
    """benchmark.run_benchmark's report: warm-up, then median / p90 / min per stage, and FPS."""
    lines = [
        f"{report['image']}: {report['runs']} runs on {report['backend']}, "
        f"warm-up {report['warm_up_ms']:.1f} ms (inference {report['warm_up_timing_ms']['inference']:.1f} ms)",
        f"  {'stage':<12} {'median':>9} {'p90':>9} {'min':>9}",
    ]
    for stage, stats in report["stages"].items():
        lines.append(f"  {stage:<12} {stats['median_ms']:>6.2f} ms {stats['p90_ms']:>6.2f} ms {stats['min_ms']:>6.2f} ms")
    lines.append(f"  {report['fps']:.1f} FPS end to end (median)")
    return "\n".join(lines)


def format_frame(result, max_labels: int = 6) -> str:
    """A video frame's FrameResult on one line: index, time, detections (best first), timing."""
    timing = result.timing_ms
    when = f" {result.pts_ms / 1000.0:.2f} s" if result.pts_ms is not None else ""
    labels = ", ".join(f"{d.label} {d.score:.0%}" for d in result.detections[:max_labels])
    if len(result.detections) > max_labels:
        labels += f", +{len(result.detections) - max_labels} more"
    return (f"frame {result.frame}{when}: {len(result.detections)} object(s)"
            f"{': ' + labels if labels else ''} [inference {timing['inference']:.1f} ms, "
            f"latency {timing['latency']:.1f} ms]")


def format_event(event: Mapping) -> str:
    """An object's event (analytics/events.py) on one line."""
    when = f" {event['pts_ms'] / 1000.0:.2f} s" if event.get("pts_ms") is not None else ""
    what = f"{event['type']} {event['label']} #{event['track_id']}"
    if "zone" in event:
        what += f" zone {event['zone']}"
    if "line" in event:
        what += f" line {event['line']} {event['direction']}"
    if event["type"] in ("new", "update", "end"):
        what += f" score {event['score']:.0%} (top {event['top_score']:.0%})"
        if event.get("zones"):
            what += f" in {', '.join(event['zones'])}"
    return f"frame {event['frame']}{when}: {what}"


def format_live_summary(name: str, summary: Mapping, backend: str, scaler: str) -> str:
    """The live CLI's last line: StreamStats.summary() of the run."""
    latency = (f"latency median {summary['latency_median_ms']:.1f} ms, p90 {summary['latency_p90_ms']:.1f} ms"
               if summary["latency_median_ms"] is not None else "no latency measured")
    return (f"{name}: {summary['frames']} frame(s) processed, {summary['dropped']} dropped, "
            f"{summary['fps']:.1f} FPS, {latency}, {backend}, {scaler} scaling")


def format_service_summary(status: Mapping) -> str:
    """The service's last line: ResultHub.status() when it stops."""
    return (f"{status['source']}: {status['frames']} frame(s) processed, {status['dropped']} dropped, "
            f"{status['source_losses']} source loss(es), up {status['uptime_s']:.0f} s")
