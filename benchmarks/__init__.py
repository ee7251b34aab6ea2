"""Benchmarks for typed-transports: run ``python -m benchmarks``; never part of the tests."""
