"""Segue's batch-native agent runtime on confluent-kafka and rocksdict (docs/live.md, issue 12).

agent.py       an agent's declaration: a stable name, its topics, its stores, its handler
store.py       one partition's state: rocksdict with a write-back cache of decoded values
changelog.py   changelog topic names, record headers, and recovery in bulk
checkpoint.py  the one commit order: outputs, changelog, offsets, store (pipelined or to the end)
producer.py    the process's one producer; delivery epochs the checkpoint waits on
gc_policy.py   when the cyclic garbage collector runs: after checkpoints, not mid-stream
loop.py        one consumer per process: micro-batches per partition, rebalances
lag.py         what consumer lag and a stalled partition are (offsets and times in, figures out)
lag_monitor.py the broker's offsets sampled off the per-record path: lag gauges, stall reports
"""
