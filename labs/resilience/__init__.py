"""Resilience parts a caller puts around a call, each with a real library's semantics:
circuit breakers and their windows (Resilience4j), backoff (AWS, Resilience4j), retry
policies, budgets and adaptive throttling (Resilience4j, the SRE book), bulkheads, token
buckets and load shedding. They depend only on the kernel."""
