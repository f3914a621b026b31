"""The API's error responses: every refusal as JSON ``{error, message, fields}``."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from eco2.domain.errors import UnavailableError
from eco2.entrypoints.api.body_limit import too_large_body
from eco2.entrypoints.api.job_state import error_response, field_name

log = logging.getLogger(__name__)

RETRY_AFTER_S = "2"
"""What a 503 tells clients to wait before retrying, in seconds."""

_HTTP_ERRORS = {
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    415: "unsupported_media_type",
}


def install_error_handlers(app: FastAPI, max_body_bytes: int) -> None:
    """Answer validation errors, Starlette's and FastAPI's own refusals and unexpected failures
    in the API's error shape (never a stack trace)."""

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        if any(err.get("type") == "json_invalid" for err in errors):
            return error_response(
                400,
                "malformed_json",
                "the body is not valid JSON",
                [{"field": "body", "message": "invalid JSON"}],
            )
        fields = [
            {"field": field_name(tuple(err.get("loc", ()))), "message": str(err.get("msg", ""))}
            for err in errors
        ]
        names = ", ".join(f["field"] for f in fields)
        return error_response(422, "validation_error", f"invalid request: {names}", fields)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        # Starlette's and FastAPI's own refusals (unknown route, wrong method, a body that
        # could not be read, one over the limit) in the API's error shape.
        if exc.status_code == 413:
            response = JSONResponse(too_large_body(max_body_bytes), status_code=413)
        elif exc.status_code == 400:
            field = [{"field": "body", "message": "could not be read"}]
            response = error_response(400, "malformed_body", "the body could not be read", field)
        else:
            code = _HTTP_ERRORS.get(exc.status_code, "http_error")
            response = error_response(exc.status_code, code, str(exc.detail))
        response.headers.update(exc.headers or {})
        return response

    @app.exception_handler(UnavailableError)
    async def unavailable(request: Request, exc: UnavailableError) -> JSONResponse:
        log.warning("request_unavailable", extra={"path": request.url.path, "what": exc.what})
        response = error_response(503, "unavailable", f"{exc}; retry later")
        response.headers["Retry-After"] = RETRY_AFTER_S
        return response

    @app.exception_handler(Exception)
    async def internal_error(request: Request, _: Exception) -> JSONResponse:
        log.exception("request_failed", extra={"path": request.url.path})
        return error_response(500, "internal_error", "the request failed; see the server log")
