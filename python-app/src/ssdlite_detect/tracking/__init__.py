"""Tracking objects across frames: the least-cost assignment, a batched Kalman filter and a
ByteTrack-style tracker, pure numpy (no scipy on the board)."""
