"""The graph's nodes, one module per node (simple look-up sub-agents share ``lookups``)."""
