"""Statistics of a stream of results: frames processed and dropped, frame rate, latency and
inference time. One class for a single DetectionStream (the live CLI's summary) and for a service
over every reconnection of its source (its status and metrics). Written by one thread (the one
that publishes results); read from any.
"""
from __future__ import annotations

import collections
from typing import Deque, Optional

from ..benchmark import median_and_p90

LATENCY_WINDOW = 1000     # results the latency and inference percentiles are computed over
FPS_WINDOW_S = 10.0       # recent_fps(): over the last seconds (a slow CPU still reads > 0)


class StreamStats:
    """See the module doc. Frame indexes count the source's frames, dropped ones included, so a
    stream's drops are the gaps between the indexes of the frames it processed."""

    def __init__(self, window: int = LATENCY_WINDOW, fps_window_s: float = FPS_WINDOW_S):
        self.processed = 0
        self.dropped_before = 0      # dropped by the streams that have ended (a service reconnects)
        self._stream_processed = 0   # by the stream that runs now
        self._stream_last_index = -1
        self.first_result_at: Optional[float] = None
        self.last_result_at: Optional[float] = None
        self.inference_seconds_sum = 0.0
        self.latency_seconds_sum = 0.0
        self.latencies_ms: Deque[float] = collections.deque(maxlen=window)
        self.inference_ms: Deque[float] = collections.deque(maxlen=window)
        self.fps_window_s = fps_window_s
        self._recent: Deque[float] = collections.deque()

    def record(self, result, at: float) -> None:
        """One result (a FrameResult: its frame index and timing_ms) at time `at` (seconds)."""
        timing = result.timing_ms
        self.processed += 1
        self._stream_processed += 1
        self._stream_last_index = max(self._stream_last_index, result.frame)
        if self.first_result_at is None:
            self.first_result_at = at
        self.last_result_at = at
        self.inference_seconds_sum += timing["inference"] / 1000.0
        self.latency_seconds_sum += timing["latency"] / 1000.0
        self.latencies_ms.append(timing["latency"])
        self.inference_ms.append(timing["inference"])
        self._recent.append(at)
        while at - self._recent[0] > self.fps_window_s:
            self._recent.popleft()

    def stream_ended(self) -> None:
        """The source's stream ended (lost, or a file replayed): the next one counts its frames
        from 0 again. The recent result times stay: recent_fps() only counts those within its
        window, so a replayed file keeps its rate and a lost source reads 0 once it has passed."""
        self.dropped_before += self._stream_dropped
        self._stream_processed = 0
        self._stream_last_index = -1

    @property
    def _stream_dropped(self) -> int:
        return self._stream_last_index + 1 - self._stream_processed

    @property
    def dropped(self) -> int:
        """Frames of the source, up to the last one processed, that were not processed."""
        return self.dropped_before + self._stream_dropped

    @property
    def fps(self) -> float:
        """Results per second between the first and the last result (start-up excluded)."""
        if self.processed < 2 or self.last_result_at == self.first_result_at:
            return 0.0
        return (self.processed - 1) / (self.last_result_at - self.first_result_at)

    def recent_fps(self, now: float) -> float:
        """Results per second over the last fps_window_s seconds before `now`."""
        recent = [t for t in list(self._recent) if now - t <= self.fps_window_s]
        if len(recent) < 2 or recent[-1] == recent[0]:
            return 0.0
        return (len(recent) - 1) / (recent[-1] - recent[0])

    @staticmethod
    def quantiles(values) -> dict:
        median, p90 = median_and_p90(values)
        return {"median": median, "p90": p90}

    def summary(self) -> dict:
        latency_median, latency_p90 = median_and_p90(self.latencies_ms)
        return {
            "frames": self.processed,
            "dropped": self.dropped,
            "fps": round(self.fps, 2),
            "latency_median_ms": latency_median,
            "latency_p90_ms": latency_p90,
            "inference_median_ms": median_and_p90(self.inference_ms)[0],
        }
