"""Domain model: intents, chat jobs, stream events, errors. Pure Python; imports nothing else."""
