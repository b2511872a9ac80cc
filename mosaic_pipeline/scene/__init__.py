"""Scene IO: the in-memory scene model and the ScanNet++ release reader."""
