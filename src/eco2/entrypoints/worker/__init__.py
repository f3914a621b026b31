"""The worker: consumes chat jobs from the queue and runs them."""
