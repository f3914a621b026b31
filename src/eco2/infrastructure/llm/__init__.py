"""Language-model adapters: offline classifier and answer models, OpenAI-compatible clients."""
