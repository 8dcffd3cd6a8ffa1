"""Sink workers: deliver the actions of one channel through its provider, once in effect, and
feed the outcomes back as receipt events. See docs/sinks.md."""
