"""Benchmarks: each module prints JSON figures; `make bench` runs them all."""
