"""Read models for the points reports page: what expires when, what moved each day, the
catalogue's stock and the exchanges waiting on a partner."""

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from django.db import connection
from django.db.models import Count, Max, Min, Q, Sum, Value
from django.db.models.functions import Coalesce, NullIf, TruncDate
from django.utils import timezone

from apps.ledger.assets import asset_get
from apps.points.models import Award, Country, Exchange, ExchangeDirection, PointsExpiry, Redemption, Reward
from apps.points.months import month_end
from apps.points.services.awards import POINTS_ASSET
from apps.points.services.expiry import HOLDERS_FROM


def expiry_forecast(*, months: int = 7, now: datetime | None = None) -> list[dict]:
    """Per country: the points (available now) and users whose expiry date falls in each of the
    next `months` months, this one first. Points dated in month M go in the run of month M+1."""
    now = now or timezone.now()
    countries = list(Country.objects.all())
    firsts = {c.code: now.astimezone(ZoneInfo(c.time_zone)).date().replace(day=1) for c in countries}
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT p.expiry_country, date_trunc('month', p.expires_at)::date, count(*), sum(a.posted - a.pending)"
            + HOLDERS_FROM
            + "WHERE p.expires_at >= %(since)s AND a.posted - a.pending > 0 GROUP BY 1, 2",
            {"asset": asset_get(*POINTS_ASSET).pk, "since": min(firsts.values(), default=now.date())},
        )
        found = {(code, month): (users, points) for code, month, users, points in cursor.fetchall()}
    forecast = []
    for country in countries:
        first = firsts[country.code]
        rows = []
        for n in range(months):
            month = month_end(first.year, first.month + n).replace(day=1)
            users, points = found.get((country.code, month), (0, 0))
            rows.append({"month": month, "users": users, "points": int(points)})
        forecast.append({"country": country, "months": rows, "peak": max((r["points"] for r in rows), default=0)})
    return forecast


def points_daily(*, days: int = 30, today: date | None = None) -> list[dict]:
    """Per country, per day (UTC) of the last `days`: points issued (awards posted), expired and
    redeemed (redemptions not cancelled)."""
    today = today or timezone.now().date()
    since = today - timedelta(days=days - 1)
    flows: dict[str, dict[date, dict[str, int]]] = {}

    def add(kind: str, rows) -> None:
        for row in rows:
            day_rows = flows.setdefault(row["country"] or "--", {})
            day_rows.setdefault(row["day"], {"issued": 0, "expired": 0, "redeemed": 0})[kind] += row["points"]

    add(
        "issued",
        Award.objects.filter(status=Award.Status.AWARDED, awarded_at__date__gte=since)
        .annotate(day=TruncDate("awarded_at"), country=Coalesce(NullIf("country_code", Value("")), "user__country"))
        .values("day", "country")
        .annotate(points=Sum("points")),
    )
    add(
        "expired",
        PointsExpiry.objects.filter(created_at__date__gte=since)
        .annotate(day=TruncDate("created_at"), country=NullIf("country_code", Value("")))
        .values("day", "country")
        .annotate(points=Sum("points")),
    )
    add(
        "redeemed",
        Redemption.objects.filter(created_at__date__gte=since)
        .exclude(status=Redemption.Status.CANCELLED)
        .annotate(day=TruncDate("created_at"), country=NullIf("country_code", Value("")))
        .values("day", "country")
        .annotate(points=Sum("points")),
    )
    report = []
    for code in sorted(flows):
        rows = [
            {"day": day, **flows[code].get(day, {"issued": 0, "expired": 0, "redeemed": 0})}
            for day in (since + timedelta(days=n) for n in range(days))
        ]
        totals = {kind: sum(r[kind] for r in rows) for kind in ("issued", "expired", "redeemed")}
        peak = max((max(r["issued"], r["expired"], r["redeemed"]) for r in rows), default=0)
        report.append({"country": code, "days": rows, "totals": totals, "peak": peak})
    return report


def catalogue_stock() -> list[dict]:
    """Every active reward with its stock left, redemptions pending fulfilment and redeemed."""
    rewards = Reward.objects.filter(is_active=True).annotate(
        pending=Count("redemptions", filter=Q(redemptions__status=Redemption.Status.PENDING)),
        redeemed=Count("redemptions", filter=~Q(redemptions__status=Redemption.Status.CANCELLED)),
    )
    return [
        {"reward": r, "stock": r.stock, "pending": r.pending, "redeemed": r.redeemed} for r in rewards.order_by("name")
    ]


def exchanges_pending() -> list[dict]:
    """Exchanges out still waiting on each partner: how many, how many points, since when."""
    return list(
        Exchange.objects.filter(direction=ExchangeDirection.OUT, status=Exchange.Status.PENDING)
        .values("partner__code", "partner__name")
        .annotate(count=Count("id"), points=Sum("points"), oldest=Min("created_at"), attempts=Max("attempts"))
        .order_by("partner__code")
    )
