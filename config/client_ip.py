"""The address a request came from, for throttles and audit records.

Behind a reverse proxy set TRUST_X_FORWARDED_FOR=true: the last address in X-Forwarded-For
(the one the proxy appended) is used. Otherwise the socket's address is, as a client can
write anything in that header.
"""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_ipv46_address


def client_ip(request) -> str | None:
    address = request.META.get("REMOTE_ADDR", "")
    if settings.TRUST_X_FORWARDED_FOR:
        forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
        address = forwarded[-1] if forwarded else address
    try:
        validate_ipv46_address(address)
    except ValidationError:
        return None
    return address
