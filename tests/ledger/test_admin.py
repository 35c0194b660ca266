"""The ledger in the back office: visible to Finance and Support, changeable by nobody."""

import pytest
from django.contrib.auth.models import Group
from django.test import Client

from tests.factories.identity import StaffFactory
from tests.factories.ledger import funded

pytestmark = pytest.mark.django_db
MODELS = ("account", "entry", "hold", "lot", "checkpoint", "asset")


def _client(**kwargs) -> Client:
    staff = StaffFactory(**kwargs)
    client = Client()
    client.force_login(staff)
    return client


@pytest.mark.parametrize("model", MODELS)
def test_even_a_superuser_can_only_read_the_ledger(model):
    funded(100)
    admin = _client(is_superuser=True)

    assert admin.get(f"/admin/ledger/{model}/").status_code == 200
    assert admin.get(f"/admin/ledger/{model}/add/").status_code == 403


def test_finance_reads_entries_with_their_postings_and_support_reads_accounts():
    who = funded(100)
    finance = StaffFactory()
    finance.groups.add(Group.objects.get(name="Finance"))
    support = StaffFactory()
    support.groups.add(Group.objects.get(name="Support"))
    finance_client, support_client = Client(), Client()
    finance_client.force_login(finance)
    support_client.force_login(support)

    entries = finance_client.get(f"/admin/ledger/entry/?q={who.value}")
    accounts = support_client.get(f"/admin/ledger/account/?q={who.value}")

    assert entries.status_code == 200 and "test_funding" in entries.content.decode()
    assert accounts.status_code == 200 and who.value in accounts.content.decode()
    assert support_client.get("/admin/ledger/lot/").status_code == 403  # not part of Support's job
