"""OpenAI's error body, ``{"error": {"message", "type", "param", "code"}}``, for every failure the server answers.

>>> err = APIError(400, "input is an empty list; send at least one string.", param="input", code="empty_input")
>>> err.body()
{'error': {'message': 'input is an empty list; send at least one string.', 'type': 'invalid_request_error', \
'param': 'input', 'code': 'empty_input'}}
>>> APIError(503, "busy", code="queue_full", retry_after=1).headers
{'Retry-After': '1'}
"""

from __future__ import annotations

from typing import Any

__all__ = ["APIError", "error_body", "install_handlers"]


def error_type(status: int) -> str:
    """OpenAI's ``type`` for an HTTP status: ``invalid_request_error`` for a 4xx, ``server_error`` otherwise.

    >>> error_type(413), error_type(503)
    ('invalid_request_error', 'server_error')
    """
    return "invalid_request_error" if 400 <= status < 500 else "server_error"


def error_body(status: int, message: str, param: str | None = None, code: str | None = None) -> dict[str, Any]:
    """The JSON body of an error answer."""
    return {"error": {"message": message, "type": error_type(status), "param": param, "code": code}}


class APIError(Exception):
    """An answer other than 200: the HTTP ``status``, one line that names the input, echoes it and says what to
    do, the request field it concerns (``param``) and a machine-readable ``code``. ``retry_after`` (seconds) adds
    the ``Retry-After`` header (503 when the queue is full)."""

    def __init__(
        self,
        status: int,
        message: str,
        param: str | None = None,
        code: str | None = None,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.param = param
        self.code = code
        self.headers = {} if retry_after is None else {"Retry-After": str(retry_after)}

    def body(self) -> dict[str, Any]:
        return error_body(self.status, self.message, self.param, self.code)


def install_handlers(app: Any) -> None:
    """Answer :class:`APIError`, Starlette's HTTP errors (404, 405) and anything unexpected with the error body."""
    from starlette.exceptions import HTTPException
    from starlette.responses import JSONResponse

    async def api_error(request: Any, exc: APIError) -> JSONResponse:
        return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers)

    async def http_error(request: Any, exc: HTTPException) -> JSONResponse:
        if exc.status_code == 404:
            message = f"no route {request.method} {request.url.path}; this server has POST /v1/moderations, "
            message += "POST /v1/classify, GET /health and GET /metrics."
        elif exc.status_code == 405:
            message = f"{request.method} is not allowed on {request.url.path}; see GET /docs for the methods."
        else:
            message = str(exc.detail)
        return JSONResponse(
            error_body(exc.status_code, message, code=_http_code(exc.status_code)),
            status_code=exc.status_code,
            headers=getattr(exc, "headers", None),
        )

    async def unexpected(request: Any, exc: Exception) -> JSONResponse:
        message = f"the server failed on this request ({type(exc).__name__}: {exc}); report it with the request."
        return JSONResponse(error_body(500, message, code="internal_error"), status_code=500)

    app.add_exception_handler(APIError, api_error)
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(Exception, unexpected)


def _http_code(status: int) -> str:
    return {404: "not_found", 405: "method_not_allowed"}.get(status, f"http_{status}")
