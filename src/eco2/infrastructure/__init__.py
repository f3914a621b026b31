"""Adapters: the real and the offline/NoOp implementations of the application's ports."""
