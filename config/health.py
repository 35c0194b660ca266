"""GET /healthz: 200 when PostgreSQL and Redis answer, 503 naming what is down."""

from django.conf import settings
from django.http import JsonResponse
from health_check.checks import Database
from health_check.contrib.redis import Redis
from health_check.views import HealthCheckView
from redis.asyncio import Redis as RedisClient

CHECK_NAMES = {Database: "postgresql", Redis: "redis"}


class HealthzView(HealthCheckView):
    checks = (
        (Database, {}),
        (
            Redis,
            {
                "client_factory": lambda: RedisClient.from_url(
                    settings.REDIS_URL, socket_connect_timeout=2, socket_timeout=2
                )
            },
        ),
    )

    async def get(self, request, *args, **kwargs):
        await super().get(request, *args, **kwargs)  # runs the checks into self.results
        services = {}
        for result in self.results:
            name = CHECK_NAMES.get(type(result.check), type(result.check).__name__.lower())
            services[name] = "ok" if result.error is None else f"unavailable: {result.error}"
        down = sorted(name for name, state in services.items() if state != "ok")
        body = {"status": "ok" if not down else "unavailable", "down": down, "services": services}
        return JsonResponse(body, status=503 if down else 200)
