"""The LangGraph pipeline: intent → router (Send fan-out) → sub-agents → aggregator → answer."""
