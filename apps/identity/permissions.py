from rest_framework import permissions

from apps.identity.models import ApiClient


class HasScope(permissions.BasePermission):
    """The caller is an active API client holding the view's `required_scope`."""

    message = "This API key does not have the scope this endpoint needs."

    def has_permission(self, request, view) -> bool:
        client = request.auth
        if not isinstance(client, ApiClient):
            return False
        scope = view.required_scope
        if not client.has_scope(scope):
            self.message = f"This API key lacks the scope '{scope}'."
            return False
        return True


class IsEndUser(permissions.BasePermission):
    """A signed-in person (token or session), not a service."""

    def has_permission(self, request, view) -> bool:
        return bool(request.user and request.user.is_authenticated)
