"""Errors the domain and the use cases raise.

Eco2Error
├── InvalidRequestError     bad input; carries the offending field
├── NotConfiguredError      a capability needs a key or URL that is not set
├── UnavailableError        a store or broker cannot be reached now; retrying may succeed
└── SubagentError           a sub-agent failed; the job still answers
"""

from __future__ import annotations


class Eco2Error(Exception):
    """Base class of every error this project raises on purpose."""


class InvalidRequestError(Eco2Error):
    """A request field is invalid.

    Args:
        field: Name of the offending field, as the client sent it.
        message: What is wrong with it.
    """

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class NotConfiguredError(Eco2Error):
    """A capability is not configured (missing key or endpoint)."""


class NoResultsError(Eco2Error, LookupError):
    """A source answered, but had nothing for this question (an ``empty`` context)."""


class SubagentError(Eco2Error):
    """A sub-agent could not produce its context."""


class StreamEndedError(Eco2Error):
    """The job's event stream already holds its terminal event: it takes no more appends.

    A job that meets it was ended elsewhere (an earlier delivery wrote ``done`` before its
    acknowledgement was lost, or the API failed it), so it stops and is acknowledged.
    """

    def __init__(self, job_id: str) -> None:
        super().__init__(f"job {job_id}: its stream already ended")
        self.job_id = job_id


class UnavailableError(Eco2Error):
    """A store or broker the call needs cannot be reached now; the same call may succeed later.

    Args:
        what: What could not be reached ("event store"), for the message.
    """

    def __init__(self, what: str) -> None:
        super().__init__(f"the {what} is unavailable")
        self.what = what
