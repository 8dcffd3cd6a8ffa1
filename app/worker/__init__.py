"""Segue's agents on its own runtime (app/runtime/): the journey worker's shell (issue 12)."""
