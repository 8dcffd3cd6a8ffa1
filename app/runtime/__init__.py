"""Segue's batch-native agent runtime on confluent-kafka and rocksdict (docs/live.md, issue 12).

agent.py       an agent's declaration: a stable name, its topics, its stores, its handler
store.py       one partition's state: rocksdict with a write-back cache of decoded values
changelog.py   changelog topic names, record headers, and recovery in bulk
checkpoint.py  the one commit order: outputs, changelog, flush, offsets, store
loop.py        one consumer per process: micro-batches per partition, rebalances
"""
