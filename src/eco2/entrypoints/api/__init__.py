"""The HTTP API: chat jobs, their SSE event streams, health, the web page."""
