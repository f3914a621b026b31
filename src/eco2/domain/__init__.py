"""Domain model: intents, chat jobs, stream events and errors. Pure Python, imports nothing else here."""
