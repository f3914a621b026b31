"""Application layer: the ports the pipeline needs and the chat use case."""
