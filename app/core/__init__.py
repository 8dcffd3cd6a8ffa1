"""The pure, deterministic core: no Kafka, no wall clock.

Everything that decides lives here and takes (state, event or tick) and returns new state and
actions. Replay, backtests, unit tests and the live pipeline all call these same functions.
"""
