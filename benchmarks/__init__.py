"""Benchmarks: scripts that measure and print. Run them with ``./dev bench NAME``."""
