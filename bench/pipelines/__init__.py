"""The comparison pipelines of `make bench` (run as subprocesses by bench/run_bench.py)."""
