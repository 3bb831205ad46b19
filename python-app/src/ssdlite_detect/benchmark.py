"""Whole-app benchmark: load+preprocess, invoke and postprocess timed separately, like
benchmark_model but end to end. Warm-up (first inference: delegate graph compilation, caches)
is reported apart from the steady state."""
from __future__ import annotations

import statistics
import time
from typing import Dict, List, Optional, Tuple

STAGES = ("preprocess", "inference", "postprocess", "total")


def percentile(values: List[float], fraction: float) -> float:
    """Nearest-rank percentile of a non-empty list."""
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, int(round(fraction * len(ordered) + 0.5)) - 1))
    return ordered[rank]


def median_and_p90(values) -> Tuple[Optional[float], Optional[float]]:
    """(median, nearest-rank p90), rounded to 0.01; (None, None) without values. The live mode's
    summary and the service's status report latencies with it."""
    values = list(values)
    if not values:
        return None, None
    return round(statistics.median(values), 2), round(percentile(values, 0.9), 2)


def summarise(samples: Dict[str, List[float]]) -> Dict[str, Dict[str, float]]:
    summary = {}
    for stage, values in samples.items():
        summary[stage] = {
            "median_ms": statistics.median(values),
            "p90_ms": percentile(values, 0.9),
            "min_ms": min(values),
        }
    return summary


def run_benchmark(detector, image_path: str, runs: int) -> dict:
    """Time `runs` end-to-end detections of `image_path` after one warm-up detection."""
    if runs < 1:
        raise ValueError("the number of benchmark runs must be >= 1")
    warm_start = time.perf_counter()
    warm_up = detector.detect(image_path)
    warm_up_ms = (time.perf_counter() - warm_start) * 1000.0
    samples: Dict[str, List[float]] = {stage: [] for stage in STAGES}
    for _ in range(runs):
        result = detector.detect(image_path)
        for stage, ms in result.timing_ms.items():
            samples[stage].append(ms)
        samples["total"].append(sum(result.timing_ms.values()))
    summary = summarise(samples)
    return {
        "image": image_path,
        "backend": detector.backend,
        "runs": runs,
        "warm_up_ms": warm_up_ms,
        "warm_up_timing_ms": warm_up.timing_ms,
        "stages": summary,
        "fps": 1000.0 / summary["total"]["median_ms"] if summary["total"]["median_ms"] > 0 else float("inf"),
    }
