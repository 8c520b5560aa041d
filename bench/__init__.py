"""Benchmarks of the actor runtime (see bench/README.md). A package so forked actor processes can import
``bench.bench_actors``."""
