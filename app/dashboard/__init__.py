"""``segue dashboard``: the journey report kept current from the topics, and the operational view
of the running workers and sinks from their Prometheus endpoints (docs/analytics.md).

follow.py  a thread that reads the outcomes, receipts and events topics as they grow
scrape.py  the workers' and sinks' /metrics, read as Prometheus reads them, turned into figures
page.py    the HTML page (operational view, then the report) and its JSON
server.py  the HTTP server (127.0.0.1 by default) that serves them
"""
