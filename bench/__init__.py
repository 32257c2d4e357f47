"""Benchmarks: each module `bench/<name>.py` has `run() -> list[dict]` (rows of one table).

`python -m bench [name ...]` runs them, prints each table and writes `bench/results/<name>.json`.
Numbers worth keeping are copied into docs/benchmarks.md with the date and machine.
"""
