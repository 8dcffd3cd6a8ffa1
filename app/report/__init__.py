"""``segue report``: the analyst's tables from outcome records (tables.py, stats.py,
service.py), their outputs (render.py, backtest_page.py) and the records read from a
deployment's topics (topics.py). All pure but for the files the outputs write and topics.py."""
