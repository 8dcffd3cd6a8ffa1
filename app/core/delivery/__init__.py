"""Pure delivery policy for the sink workers: backoff, rate limit, circuit breaker, signatures,
outcome classification, receipts and helpdesk tickets. No I/O, no clock of its own: every
function takes the time (epoch or monotonic milliseconds) or a seeded random source."""
