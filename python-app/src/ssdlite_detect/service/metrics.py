"""`GET /metrics`: the Prometheus text exposition format (version 0.0.4), written here because
the board has no prometheus-client."""
from __future__ import annotations

from typing import Iterable, List, Optional, Tuple

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float) -> str:
    return repr(float(value)) if isinstance(value, float) else str(value)


class Exposition:
    """Families in order, each with its HELP and TYPE lines before its samples."""

    def __init__(self, prefix: str = "ssdlite_"):
        self.prefix = prefix
        self._lines: List[str] = []

    def family(self, name: str, kind: str, help_text: str,
               samples: Iterable[Tuple[str, Optional[dict], float]]) -> None:
        """samples: (suffix, labels or None, value); suffix "" for the family's own name."""
        full = self.prefix + name
        self._lines.append(f"# HELP {full} {help_text}")
        self._lines.append(f"# TYPE {full} {kind}")
        for suffix, labels, value in samples:
            label_text = ""
            if labels:
                label_text = "{" + ",".join(f'{key}="{_escape(str(val))}"' for key, val in labels.items()) + "}"
            self._lines.append(f"{full}{suffix}{label_text} {_number(value)}")

    def text(self) -> str:
        return "\n".join(self._lines) + "\n"


def _summary_samples(quantiles: dict, seconds_sum: float, count: int, scale: float = 1000.0):
    samples = []
    for name, quantile in (("median", "0.5"), ("p90", "0.9")):
        if quantiles[name] is not None:
            samples.append(("", {"quantile": quantile}, quantiles[name] / scale))
    samples.append(("_sum", None, seconds_sum))
    samples.append(("_count", None, count))
    return samples


def render_metrics(hub, mqtt=None, http_clients: int = 0) -> str:
    stats = hub.stats
    labels = {"source": hub.source_name, "backend": hub.backend}
    out = Exposition()
    out.family("info", "gauge", "The service's source, backend and model (value 1).",
               [("", {**labels, "model": hub.model}, 1)])
    out.family("frames_processed_total", "counter", "Frames the detector processed.", [("", None, stats.processed)])
    out.family("frames_dropped_total", "counter",
               "Source frames not processed because inference was busy (live sources keep only the newest).",
               [("", None, stats.dropped)])
    out.family("inference_seconds", "summary", "Time of one model invoke (quantiles over the recent frames).",
               _summary_samples(stats.quantiles(stats.inference_ms), stats.inference_seconds_sum, stats.processed))
    out.family("latency_seconds", "summary", "Capture to result, per frame (quantiles over the recent frames).",
               _summary_samples(stats.quantiles(stats.latencies_ms), stats.latency_seconds_sum, stats.processed))
    out.family("source_up", "gauge", "1 while frames flow from the source, else 0.",
               [("", None, 1 if hub.state == "running" else 0)])
    out.family("source_losses_total", "counter", "Times the source failed or ended and was retried.",
               [("", None, hub.source_losses)])
    out.family("subscriber_dropped_total", "counter",
               "Results and frames that slow outputs (HTTP clients, MQTT) did not take in time.",
               [("", {"topic": "results"}, hub.results.dropped), ("", {"topic": "jpeg"}, hub.jpegs.dropped)])
    out.family("http_streaming_clients", "gauge", "Open /stream.mjpeg and /api/v1/events connections.",
               [("", None, http_clients)])
    if mqtt is not None:
        out.family("mqtt_connected", "gauge", "1 while connected to the MQTT broker.",
                   [("", None, 1 if mqtt.connected else 0)])
        out.family("mqtt_published_total", "counter", "Results published to MQTT.", [("", None, mqtt.published)])
        out.family("mqtt_unsent_total", "counter", "Results that could not be sent (broker down or slow).",
                   [("", None, mqtt.unsent)])
    return out.text()
