"""Why did (or didn't) a customer get a message: ``segue explain`` and ``segue profile get``.

Pure: no Kafka, no clock. The command (app/cli/explain.py) gathers a customer's journey state,
outcome records and events, live from the broker or from a replay, and hands them here.

events.py        the customer's events as short briefs (id, type, time), found by id or time
pauses.py        what a paused entry waits for and where it goes next (from its definition)
causes.py        which event or timer is behind each outcome record of an entry
assemble.py      the explanation: per journey and entry, state, timer, every decision, answers
render.py        the explanation as text
trace.py         a replay run that notes the event behind each record (for the replay form)
identify.py      ID resolution over a replay's identity rows, as ``profile get`` does live
profile_view.py  the compact human view of a profile record (``segue profile get``)
"""
