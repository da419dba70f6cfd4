"""Benchmarks: `make bench` (or `python -m bench [name ...]`) runs each `bench_*.py` module's
`main()`, which prints a table with the figure and a baseline measured in the same run."""
