"""Points in the back office: marketing changes multipliers only under the service's rules (each
refusal shown on its field, nothing saved), staff price a transaction before it happens, Support
replays dead-lettered transactions, and every role sees what its job needs and no more."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.admin.models import LogEntry
from django.test import Client
from django.utils import timezone

from apps.events.models import InboundEvent
from apps.events.retry_policy import INBOUND_MAX_ATTEMPTS
from apps.events.services.inbound import inbound_event_process, inbound_events_ingest
from apps.points.admin import configuration as admin_module
from apps.points.models import Award, Country, Multiplier
from tests.factories.identity import StaffFactory, staff_client
from tests.factories.points import partner_with_key, transaction_payload

pytestmark = pytest.mark.django_db

ADMIN = "/admin/points"
PAGES = (
    "country",
    "vertical",
    "paymenttype",
    "tier",
    "partner",
    "multiplier",
    "award",
    "pointsprofile",
    "tierchange",
    "transactiondeadletter",
)
CONFIGURATION = ("country", "vertical", "paymenttype", "tier", "partner", "multiplier")
WHAT_IF = f"{ADMIN}/multiplier/what-if/"


def _in_force(kind: str, *, country: str | None = None, key: str = "") -> Multiplier:
    return Multiplier.objects.get(kind=kind, country__code=country, key=key, valid_to__isnull=True)


def _multiplier_form(country: Country | None, **overrides) -> dict:
    form = {
        "kind": "vertical",
        "country": country.pk if country else "",
        "partner": "",
        "key": "mart",
        "value": "1.5",
        "valid_from_0": "2030-01-01",
        "valid_from_1": "00:00:00",
        "valid_to_0": "",
        "valid_to_1": "",
        "note": "mart launch",
        "_save": "Save",
    }
    return form | overrides


def _form_errors(response) -> dict:
    return response.context["adminform"].form.errors


def _processed(payload: dict) -> InboundEvent:
    """Ingest one transaction.completed event and run it, retrying until it settles."""
    [result] = inbound_events_ingest(
        events=[
            {
                "event_id": f"evt-{payload['transactionId']}",
                "type": "transaction.completed",
                "occurred_at": payload["completedAt"],
                "payload": payload,
            }
        ]
    )
    assert result.status == "accepted", result.reason
    for _ in range(INBOUND_MAX_ATTEMPTS):
        InboundEvent.objects.filter(pk=result.id).update(next_attempt_at=timezone.now())
        if inbound_event_process(event_id=result.id).status in {"processed", "failed"}:
            break
    return InboundEvent.objects.get(pk=result.id)


@pytest.fixture
def dead_letter(world):
    """bob's mart order: SG has no mart multiplier, so it failed every retry."""
    event = _processed(transaction_payload(transactionId="tx-mart-1", vertical="mart"))
    assert event.status == InboundEvent.Status.FAILED
    return event


# --- configuration -------------------------------------------------------------------------


@pytest.mark.parametrize("page", PAGES)
def test_every_points_page_renders_for_a_superuser(page, dead_letter):
    response = staff_client(None).get(f"{ADMIN}/{page}/", secure=True)
    assert response.status_code == 200
    assert response.context["cl"].result_count >= 1


@pytest.mark.parametrize("page", CONFIGURATION)
def test_configuration_is_never_deleted_even_by_a_superuser(page, world):
    client = staff_client(None)
    model = client.get(f"{ADMIN}/{page}/", secure=True).context["cl"].model
    row = model.objects.first()

    assert client.get(f"{ADMIN}/{page}/{row.pk}/delete/", secure=True).status_code == 403
    assert model.objects.filter(pk=row.pk).exists()


def test_country_page_lists_the_multipliers_in_force_now_but_not_ended_ones(world):
    sg = Country.objects.get(code="SG")
    cash = _in_force("payment_type", country="SG", key="cash")
    Multiplier.objects.filter(pk=cash.pk).update(valid_to=timezone.now() - timedelta(days=1))
    client = staff_client("Marketing")

    listing = client.get(f"{ADMIN}/country/", secure=True).content.decode()
    detail = client.get(f"{ADMIN}/country/{sg.pk}/change/", secure=True).content.decode()

    assert "EPPF ×1 · food ×2 · grabpay ×2<" in listing  # SG, its cash multiplier ended
    assert "EPPF ×0.00005 · food ×2 · cash ×1 · grabpay ×2<" in listing  # ID
    food = _in_force("vertical", country="SG", key="food")
    assert f'href="/admin/points/multiplier/{food.pk}/change/"' in detail
    assert f'href="/admin/points/multiplier/{cash.pk}/change/"' not in detail


def test_marketing_adds_a_multiplier_through_the_admin_form(world):
    sg = Country.objects.get(code="SG")
    client = staff_client("Marketing")

    # the key's help lists the codes staff can use
    add_page = client.get(f"{ADMIN}/multiplier/add/", secure=True).content.decode()
    assert "Vertical: food, mart, pay, transport." in add_page
    assert "Tier: gold, member, platinum, silver." in add_page

    response = client.post(f"{ADMIN}/multiplier/add/", _multiplier_form(sg), secure=True)

    assert response.status_code == 302, _form_errors(response)
    created = Multiplier.objects.get(kind="vertical", country=sg, key="mart")
    assert created.value == Decimal("1.5")
    assert created.valid_from.isoformat() == "2030-01-01T00:00:00+00:00"
    assert created.history.get().history_user == client.staff


def test_an_overlapping_multiplier_is_refused_naming_the_row_it_clashes_with(world):
    sg = Country.objects.get(code="SG")
    food = _in_force("vertical", country="SG", key="food")
    before = Multiplier.objects.count()

    response = staff_client("Marketing").post(
        f"{ADMIN}/multiplier/add/", _multiplier_form(sg, key="food", value="3"), secure=True
    )

    assert response.status_code == 200
    [message] = _form_errors(response)["valid_from"]
    assert f"#{food.pk} ×2 from 2025-01-01 00:00 to open" in message
    assert message in response.content.decode()
    assert Multiplier.objects.count() == before


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"value": "0"}, "value", "A multiplier must be greater than 0."),
        ({"value": "-1.5"}, "value", "A multiplier must be greater than 0."),
        ({"key": "groceries"}, "key", "Unknown vertical 'groceries'. Known: food, mart, pay, transport."),
        ({"kind": "tier", "key": "gold"}, "country", "Leave empty for this kind."),
    ],
)
def test_a_multiplier_the_rules_refuse_is_not_saved_and_the_field_is_named(world, overrides, field, message):
    sg = Country.objects.get(code="SG")
    before = Multiplier.objects.count()

    response = staff_client("Marketing").post(
        f"{ADMIN}/multiplier/add/", _multiplier_form(sg, **overrides), secure=True
    )

    assert response.status_code == 200
    assert _form_errors(response) == {field: [message]}
    assert Multiplier.objects.count() == before


def test_an_in_force_multiplier_shows_its_locked_fields_read_only(world):
    food = _in_force("vertical", country="SG", key="food")

    page = staff_client("Marketing").get(f"{ADMIN}/multiplier/{food.pk}/change/", secure=True)

    form = page.context["adminform"].form
    assert set(form.fields) == {"valid_to", "note"}
    assert 'name="value"' not in page.content.decode()
    assert 'name="valid_to_0"' in page.content.decode()


def test_an_in_force_multiplier_value_cannot_change_even_from_a_form_opened_earlier(world):
    # given a form that still carries every field (opened while the row was scheduled)
    sg = Country.objects.get(code="SG")
    food = _in_force("vertical", country="SG", key="food")
    stale = _multiplier_form(sg, key="food", value="5", valid_from_0="2025-01-01", valid_from_1="00:00:00")

    response = staff_client("Marketing").post(f"{ADMIN}/multiplier/{food.pk}/change/", stale, secure=True)

    assert response.status_code == 200
    assert _form_errors(response) == {
        "value": ["This multiplier has taken effect; close it (valid to) and add a new one."]
    }
    food.refresh_from_db()
    assert (food.value, food.note) == (Decimal("2"), "demo")


def test_an_in_force_multiplier_is_closed_from_a_future_time(world):
    food = _in_force("vertical", country="SG", key="food")
    close_at = (timezone.now() + timedelta(days=7)).replace(microsecond=0)
    client = staff_client("Marketing")

    response = client.post(
        f"{ADMIN}/multiplier/{food.pk}/change/",
        {"valid_to_0": f"{close_at:%Y-%m-%d}", "valid_to_1": f"{close_at:%H:%M:%S}", "note": "ends", "_save": "Save"},
        secure=True,
    )

    assert response.status_code == 302, _form_errors(response)
    food.refresh_from_db()
    assert (food.valid_to, food.value) == (close_at, Decimal("2"))
    assert food.history.latest().history_user == client.staff


def test_an_untouched_start_with_microseconds_is_not_a_change(world):
    # given a row written by code (microseconds) and a form opened while it was scheduled
    sg = Country.objects.get(code="SG")
    started = (timezone.now() - timedelta(hours=1)).replace(microsecond=123456)
    mart = Multiplier.objects.create(kind="vertical", country=sg, key="mart", value=Decimal("1.5"), valid_from=started)
    close_at = (timezone.now() + timedelta(days=1)).replace(microsecond=0)
    stale = _multiplier_form(
        sg,
        valid_from_0=f"{started:%Y-%m-%d}",
        valid_from_1=f"{started:%H:%M:%S}",
        valid_to_0=f"{close_at:%Y-%m-%d}",
        valid_to_1=f"{close_at:%H:%M:%S}",
    )

    response = staff_client("Marketing").post(f"{ADMIN}/multiplier/{mart.pk}/change/", stale, secure=True)

    assert response.status_code == 302, _form_errors(response)
    mart.refresh_from_db()
    assert (mart.valid_from, mart.valid_to) == (started, close_at)


def test_an_in_force_multiplier_cannot_be_closed_in_the_past(world):
    food = _in_force("vertical", country="SG", key="food")

    response = staff_client("Marketing").post(
        f"{ADMIN}/multiplier/{food.pk}/change/",
        {"valid_to_0": "2025-06-01", "valid_to_1": "00:00:00", "note": "", "_save": "Save"},
        secure=True,
    )

    assert _form_errors(response) == {"valid_to": ["A multiplier can be closed from now on, not in the past."]}
    food.refresh_from_db()
    assert food.valid_to is None


def test_a_window_taken_between_the_check_and_the_save_is_reported_not_a_500(world, monkeypatch):
    # given another member of staff saves mart's first multiplier just after this form was checked
    sg = Country.objects.get(code="SG")
    real_save = admin_module.multiplier_save
    taken = {}

    def concurrent_then_save(*, multiplier):
        taken["row"] = Multiplier.objects.create(
            kind="vertical", country=sg, key="mart", value=Decimal("1.2"), valid_from=multiplier.valid_from
        )
        return real_save(multiplier=multiplier)

    monkeypatch.setattr(admin_module, "multiplier_save", concurrent_then_save)
    client = staff_client("Marketing")

    # when this form is saved
    response = client.post(f"{ADMIN}/multiplier/add/", _multiplier_form(sg), secure=True, follow=True)

    # then the refusal is shown and the admin's transaction rolled back: no row, no log entry
    assert response.status_code == 200
    assert f"Not saved: Overlaps another multiplier for the same key (#{taken['row'].pk} ×1.2" in (
        response.content.decode()
    )
    assert not Multiplier.objects.filter(key="mart", value=Decimal("1.5")).exists()
    assert not LogEntry.objects.filter(user=client.staff).exists()


def test_multipliers_filter_by_state(world):
    sg = Country.objects.get(code="SG")
    scheduled = Multiplier.objects.create(
        kind="vertical", country=sg, key="mart", value=Decimal("1.5"), valid_from=timezone.now() + timedelta(days=3)
    )
    client = staff_client("Marketing")

    listed = client.get(f"{ADMIN}/multiplier/?state=scheduled", secure=True).context["cl"].result_list
    in_force = client.get(f"{ADMIN}/multiplier/?state=in_force", secure=True).context["cl"].result_list

    assert list(listed) == [scheduled]
    assert scheduled not in in_force and len(in_force) == Multiplier.objects.count() - 1


# --- what-if calculator --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "points", "tier"),
    [
        ({"country": "SG", "amount": "15.00", "user": "bob"}, 180, "platinum"),
        ({"country": "ID", "amount": "150000", "user": "jane"}, 60, "gold"),
        ({"country": "SG", "amount": "15.00", "tier": "gold"}, 120, "gold"),
    ],
)
def test_what_if_prices_a_transaction_with_every_multiplier_it_used(world, query, points, tier):
    response = staff_client("Marketing").get(
        WHAT_IF, {"vertical": "food", "payment_type": "grabpay", **query}, secure=True
    )

    assert response.status_code == 200
    result = response.context["result"]
    assert (result["points"], result["tier"].code) == (points, tier)
    html = response.content.decode()
    assert f'<strong id="what-if-points">{points}</strong>' in html
    food = _in_force("vertical", country=query["country"], key="food")
    platinum_or_gold = _in_force("tier", key=tier)
    for row in (food, platinum_or_gold):
        assert f'<a href="/admin/points/multiplier/{row.pk}/change/">#{row.pk}</a>' in html
    assert f"= {points}</code>" in html and "nothing was rounded" in html


def test_what_if_uses_the_tier_the_user_held_at_that_moment(world):
    # bob reached Platinum 30 days ago; two months ago he was a Member (×1)
    at = timezone.now() - timedelta(days=60)
    query = {"country": "SG", "vertical": "food", "payment_type": "grabpay", "amount": "15.00", "user": "bob"}

    response = staff_client("Finance").get(
        WHAT_IF, {**query, "moment_0": f"{at:%Y-%m-%d}", "moment_1": f"{at:%H:%M:%S}"}, secure=True
    )

    result = response.context["result"]
    assert (result["points"], result["tier"].code) == (60, "member")


def test_what_if_shows_the_rounding_when_the_product_has_a_fraction(world):
    response = staff_client("Marketing").get(
        WHAT_IF,
        {"country": "SG", "vertical": "food", "payment_type": "grabpay", "amount": "15.99", "tier": "silver"},
        secure=True,
    )

    # 15.99 × 2 × 1 × 2 × 1.5 = 95.94
    assert response.context["result"]["points"] == 95
    assert "95.94 rounded down to 95" in response.content.decode()


def test_what_if_without_a_multiplier_shows_the_missing_configuration(world):
    response = staff_client("Marketing").get(
        WHAT_IF,
        {"country": "SG", "vertical": "mart", "payment_type": "grabpay", "amount": "15.00", "user": "bob"},
        secure=True,
    )

    assert response.status_code == 200
    assert response.context["result"] is None
    [error] = response.context["form"].non_field_errors()
    assert error.startswith("No vertical multiplier for SG mart in force at")
    assert error in response.content.decode()


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        ({"user": "nobody"}, "user", "No user has external id 'nobody'."),
        ({"amount": "0"}, "amount", "A positive amount with at most 6 decimals."),
        ({"tier": "gold"}, "__all__", "Give either a user's external id or a tier."),
    ],
)
def test_what_if_refuses_incomplete_input_on_its_field(world, query, field, message):
    base = {"country": "SG", "vertical": "food", "payment_type": "grabpay", "amount": "15.00", "user": "bob"}

    response = staff_client("Marketing").get(WHAT_IF, base | query, secure=True)

    assert response.context["form"].errors[field] == [message]
    assert response.context["result"] is None


def test_what_if_is_linked_from_the_multipliers_and_closed_to_staff_without_view(world):
    listing = staff_client("Marketing").get(f"{ADMIN}/multiplier/", secure=True).content.decode()
    assert f'href="{WHAT_IF}"' in listing
    # staff with no role (no view permission on multipliers) are refused
    nobody = Client()
    nobody.force_login(StaffFactory())
    assert nobody.get(WHAT_IF, secure=True).status_code == 403
    assert staff_client("Finance").get(WHAT_IF, secure=True).status_code == 200
    assert staff_client("Support").get(WHAT_IF, secure=True).status_code == 200


# --- dead letters --------------------------------------------------------------------------


def test_dead_letters_list_failed_transactions_with_their_reason(dead_letter):
    # a failed event of another type, and a processed transaction, are not dead-lettered transactions
    InboundEvent.objects.create(
        event_id="evt-other",
        type="user.upserted",
        occurred_at=timezone.now(),
        payload={"userId": "z"},
        batch_token="00000000-0000-0000-0000-000000000001",
        status=InboundEvent.Status.FAILED,
        last_error="other",
    )
    processed = _processed(transaction_payload(transactionId="tx-food-1"))
    assert processed.status == InboundEvent.Status.PROCESSED

    response = staff_client("Support").get(f"{ADMIN}/transactiondeadletter/", secure=True)

    assert [row.pk for row in response.context["cl"].result_list] == [dead_letter.pk]
    html = response.content.decode()
    assert "evt-tx-mart-1" in html and "tx-mart-1" in html
    assert "ConfigurationMissing: No vertical multiplier for SG mart in force at" in html


def test_support_replays_a_dead_lettered_transaction_back_to_pending(dead_letter):
    client = staff_client("Support")

    response = client.post(
        f"{ADMIN}/transactiondeadletter/",
        {"action": "replay", "_selected_action": [dead_letter.pk]},
        secure=True,
        follow=True,
    )

    assert "1 transaction(s) queued for replay." in response.content.decode()
    dead_letter.refresh_from_db()
    assert (dead_letter.status, dead_letter.attempts) == (InboundEvent.Status.PENDING, 0)
    assert dead_letter.last_replayed_by == client.staff


def test_marketing_sees_dead_letters_but_cannot_replay_them(dead_letter):
    client = staff_client("Marketing")
    listing = client.get(f"{ADMIN}/transactiondeadletter/", secure=True)
    assert listing.status_code == 200
    assert listing.context["action_form"] is None  # no action offered: neither replay nor export

    client.post(
        f"{ADMIN}/transactiondeadletter/", {"action": "replay", "_selected_action": [dead_letter.pk]}, secure=True
    )

    dead_letter.refresh_from_db()
    assert dead_letter.status == InboundEvent.Status.FAILED


# --- roles ---------------------------------------------------------------------------------


def test_support_views_awards_with_their_breakdown_but_cannot_touch_multipliers(world):
    event = _processed(transaction_payload(transactionId="tx-food-1"))
    award = Award.objects.get(inbound_event=event)
    client = staff_client("Support")

    listing = client.get(f"{ADMIN}/award/?q=tx-food-1", secure=True)
    detail = client.get(f"{ADMIN}/award/{award.pk}/change/", secure=True)

    assert [a.pk for a in listing.context["cl"].result_list] == [award.pk]
    html = detail.content.decode()
    assert detail.status_code == 200
    for used in award.breakdown["multipliers"].values():
        assert (
            f'<a href="/admin/points/multiplier/{used["multiplier_id"]}/change/">#{used["multiplier_id"]}</a>' in html
        )
    assert "Exact product: <code>15 × 2 × 1 × 2 × 3 = 180</code>" in html
    # support may follow the links to read a multiplier, never change one
    used = next(iter(award.breakdown["multipliers"].values()))["multiplier_id"]
    assert client.get(f"{ADMIN}/multiplier/", secure=True).status_code == 200
    assert client.get(f"{ADMIN}/multiplier/add/", secure=True).status_code == 403
    assert client.post(f"{ADMIN}/multiplier/{used}/change/", {"valid_to": ""}, secure=True).status_code == 403
    assert client.post(f"{ADMIN}/award/{award.pk}/change/", {"points": "1"}, secure=True).status_code == 403


@pytest.mark.parametrize("page", PAGES)
def test_finance_sees_every_points_page_read_only(page, dead_letter):
    client = staff_client("Finance")
    listing = client.get(f"{ADMIN}/{page}/", secure=True)
    row = listing.context["cl"].result_list[0]

    assert listing.status_code == 200
    assert client.get(f"{ADMIN}/{page}/{row.pk}/change/", secure=True).status_code == 200
    assert client.get(f"{ADMIN}/{page}/add/", secure=True).status_code == 403
    assert client.post(f"{ADMIN}/{page}/{row.pk}/change/", {}, secure=True).status_code == 403


def test_finance_cannot_revert_configuration_from_its_history(world):
    sg = Country.objects.get(code="SG")
    version = sg.history.earliest()
    form = {"code": "SG", "name": "Singapura", "currency": "SGD", "time_zone": "Asia/Singapore", "expiry_months": 6}

    response = staff_client("Finance").post(f"{ADMIN}/country/{sg.pk}/history/{version.history_id}/", form, secure=True)

    assert response.status_code == 403
    sg.refresh_from_db()
    assert sg.name == "Singapore"


@pytest.mark.parametrize("model", ["country", "vertical", "paymenttype", "tier", "partner"])
def test_a_saved_code_cannot_be_renamed(world, model):
    from django.apps import apps

    if model == "partner":
        partner_with_key(code="kopi")
    row = apps.get_model("points", model).objects.first()
    page = staff_client("Marketing").get(f"{ADMIN}/{model}/{row.pk}/change/", secure=True)
    assert page.status_code == 200
    assert 'name="code"' not in page.content.decode()
