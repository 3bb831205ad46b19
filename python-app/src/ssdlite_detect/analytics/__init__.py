"""Objects over time on top of the tracker: zones and lines (from TOML tables), events and counts,
and the stage the live runner calls after post-processing. Pure: no I/O, no threads."""
