"""Developer benchmarks, one file per section, sharing one timing helper (timing.py)."""
