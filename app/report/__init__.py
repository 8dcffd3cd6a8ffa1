"""``segue report``: the analyst's tables from outcome records (tables.py, stats.py) and their
outputs (render.py). Pure but for the files render.py writes."""
