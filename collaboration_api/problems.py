"""RFC 9457 problem details for every error the API returns."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

PROBLEM = "application/problem+json"


class Problem(Exception):
    def __init__(self, status: int, title: str, detail: str, *, type_: str = "about:blank",
                 headers: dict[str, str] | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.status, self.title, self.detail, self.type, self.extra = (status, title, detail,
                                                                      type_, extra)
        self.headers = headers or {}


def problem_response(status: int, title: str, detail: str, *, type_: str = "about:blank",
                     instance: str | None = None, headers: dict[str, str] | None = None,
                     **extra: Any) -> JSONResponse:
    body = {"type": type_, "title": title, "status": status, "detail": detail, **extra}
    if instance:
        body["instance"] = instance
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


# What each status means here, for the OpenAPI description of every route.
PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"description": "no valid bearer token", "content": {PROBLEM: {}}},
    403: {"description": "the caller's role or institution may not do this",
          "content": {PROBLEM: {}}},
    404: {"description": "unknown, or not visible to the caller's institution",
          "content": {PROBLEM: {}}},
    409: {"description": "not allowed in the current state, or the same Idempotency-Key "
                         "is still in flight", "content": {PROBLEM: {}}},
    422: {"description": "invalid body, or an Idempotency-Key reused with another body",
          "content": {PROBLEM: {}}},
    429: {"description": "too many requests from this client", "content": {PROBLEM: {}}},
}


def install(app: FastAPI) -> None:
    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> JSONResponse:
        return problem_response(exc.status, exc.title, exc.detail, type_=exc.type,
                                instance=request.url.path, headers=exc.headers, **exc.extra)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return problem_response(exc.status_code, _title(exc.status_code), str(exc.detail),
                                instance=request.url.path,
                                headers=getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        first = errors[0] if errors else {"loc": (), "msg": "invalid request"}
        where = ".".join(str(p) for p in first.get("loc", ()))
        return problem_response(422, "Invalid request", f"{where}: {first.get('msg')}",
                                instance=request.url.path,
                                errors=[{"loc": list(e.get("loc", ())), "msg": e.get("msg")}
                                        for e in errors])


def _title(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI ``responses`` entry for these problem statuses."""
    return {code: PROBLEM_RESPONSES[code] for code in codes}
