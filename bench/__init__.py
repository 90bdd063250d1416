"""Benchmarks: see bench/README.md and docs/benchmarks.md."""
