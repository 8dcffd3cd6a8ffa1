"""Replay for inputs of any size: the shell around the pure replay (app/core/journeys/replay.py).

sources.py   where events come from: a file of JSON lines, or the events topic (offsets, times)
sorter.py    an external sort: records in (time, ...) order with memory bounded by a byte budget
tables.py    the customers' states and identity rows on disk, a bounded cache of them in memory
streaming.py the run: sorted events through ``run_resolved``, outputs sorted into their files
"""
