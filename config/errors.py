"""One error shape for the whole API.

Every app raises a subclass of `KhataError` with a stable `code`; the DRF exception handler
renders it, and DRF's own exceptions, as
`{"error": {"code": "snake_case", "message": "...", "fields": {...}}}`.
"""

import logging
from typing import Any

from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, JsonResponse
from rest_framework import exceptions as drf_exceptions
from rest_framework import status
from rest_framework.response import Response

logger = logging.getLogger(__name__)


class KhataError(Exception):
    """Base of every error an app raises on purpose."""

    status_code = status.HTTP_400_BAD_REQUEST
    code = "error"
    message = "The request could not be completed."

    def __init__(self, message: str | None = None, *, fields: dict[str, Any] | None = None, code: str | None = None):
        self.message = message or self.message
        self.fields = fields or {}
        if code:
            self.code = code
        super().__init__(self.message)


class InvalidInput(KhataError):
    status_code = status.HTTP_400_BAD_REQUEST
    code = "validation_error"
    message = "Some fields are invalid."


class NotFoundError(KhataError):
    status_code = status.HTTP_404_NOT_FOUND
    code = "not_found"
    message = "Not found."


class Conflict(KhataError):
    status_code = status.HTTP_409_CONFLICT
    code = "conflict"
    message = "The request conflicts with the current state."


class BusinessRuleRefused(KhataError):
    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
    code = "refused"
    message = "The request was refused by a business rule."


class RequestTooLarge(KhataError):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    code = "request_too_large"
    message = "The request body is larger than this server accepts."


def error_body(code: str, message: str, fields: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "fields": fields or {}}}


def _flatten_message(detail: Any) -> str:
    if isinstance(detail, list) and detail:
        return _flatten_message(detail[0])
    if isinstance(detail, dict) and detail:
        return _flatten_message(next(iter(detail.values())))
    return str(detail)


_DRF_CODES = {
    drf_exceptions.ParseError: "malformed_request",
    drf_exceptions.AuthenticationFailed: "authentication_failed",
    drf_exceptions.NotAuthenticated: "not_authenticated",
    drf_exceptions.PermissionDenied: "permission_denied",
    drf_exceptions.NotFound: "not_found",
    drf_exceptions.MethodNotAllowed: "method_not_allowed",
    drf_exceptions.NotAcceptable: "not_acceptable",
    drf_exceptions.UnsupportedMediaType: "unsupported_media_type",
    drf_exceptions.Throttled: "throttled",
}


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    headers: dict[str, str] = {}
    if isinstance(exc, KhataError):
        if getattr(exc, "replayed", False):
            headers["Idempotent-Replayed"] = "true"  # the same refusal, remembered for this key
        if getattr(exc, "retry_after", None):
            headers["Retry-After"] = str(exc.retry_after)
        return Response(error_body(exc.code, exc.message, exc.fields), status=exc.status_code, headers=headers)
    if isinstance(exc, RequestDataTooBig):
        err = RequestTooLarge()
        return Response(error_body(err.code, err.message), status=err.status_code)
    if isinstance(exc, Http404):
        exc = drf_exceptions.NotFound()
    if isinstance(exc, DjangoValidationError):
        exc = drf_exceptions.ValidationError(detail=exc.message_dict if hasattr(exc, "error_dict") else exc.messages)
    if not isinstance(exc, drf_exceptions.APIException):
        return None  # an unexpected error: Django logs it and answers 500

    if getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = exc.auth_header
    if getattr(exc, "wait", None):
        headers["Retry-After"] = str(int(exc.wait))

    if isinstance(exc, drf_exceptions.ValidationError):
        detail = exc.detail
        fields = detail if isinstance(detail, dict) else {"nonFieldErrors": detail}
        body = error_body("validation_error", _flatten_message(detail), fields)
    else:
        code = next((c for cls, c in _DRF_CODES.items() if isinstance(exc, cls)), None)
        if code is None:
            code = exc.default_code if isinstance(exc.default_code, str) else "error"
        body = error_body(code, _flatten_message(exc.detail))
    return Response(body, status=exc.status_code, headers=headers)


def json_not_found(request, exception=None):  # noqa: ARG001 - Django's handler signature
    if request.path.startswith("/api/"):
        return JsonResponse(error_body("not_found", "Not found."), status=404)
    from django.views.defaults import page_not_found

    return page_not_found(request, exception)


def json_server_error(request):
    if request.path.startswith("/api/"):
        return JsonResponse(error_body("server_error", "Something went wrong on our side."), status=500)
    from django.views.defaults import server_error

    return server_error(request)


def json_bad_request(request, exception=None):  # noqa: ARG001
    # RequestDataTooBig outside DRF (e.g. a form) lands here as a 400.
    if request.path.startswith("/api/"):
        return JsonResponse(error_body("bad_request", "The request could not be read."), status=400)
    from django.views.defaults import bad_request

    return bad_request(request, exception)
