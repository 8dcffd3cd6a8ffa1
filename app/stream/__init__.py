"""The agents' work on a batch (journeys, identity), framework-free: the runtime (app/runtime/)
and the worker (app/worker/) call it; it calls the pure core."""
