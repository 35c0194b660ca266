from rest_framework import permissions

from apps.identity.models import ApiClient


class HasScope(permissions.BasePermission):
    """The caller is an active API client holding the view's `required_scope` (a scope, or a
    tuple of scopes any one of which will do)."""

    message = "This API key does not have the scope this endpoint needs."

    def has_permission(self, request, view) -> bool:
        client = request.auth
        if not isinstance(client, ApiClient):
            return False
        required = view.required_scope
        scopes = required if isinstance(required, tuple) else (required,)
        if not any(client.has_scope(scope) for scope in scopes):
            self.message = f"This API key lacks the scope '{' or '.join(scopes)}'."
            return False
        return True


class IsEndUser(permissions.BasePermission):
    """A signed-in person (token or session), not a service."""

    def has_permission(self, request, view) -> bool:
        return bool(request.user and request.user.is_authenticated)
