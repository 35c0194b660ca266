import factory

from apps.identity.models import User
from apps.identity.services import api_client_create, user_token_issue


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User

    username = factory.Sequence(lambda n: f"user{n}")
    external_id = factory.Sequence(lambda n: f"ext-{n}")
    country = "SG"
    password = factory.django.Password("pw-for-tests")


class StaffFactory(UserFactory):
    external_id = None
    is_staff = True


def api_client_with_key(*, scopes: list[str], name: str = "test service"):
    return api_client_create(name=name, scopes=scopes)


def user_with_token(**kwargs):
    user = UserFactory(**kwargs)
    return user, user_token_issue(user=user)


def staff_client(role: str | None):
    """A Django test client signed in as staff in `role` (a superuser when None); `.staff` is the user."""
    from django.contrib.auth.models import Group
    from django.test import Client

    staff = StaffFactory(is_superuser=role is None)
    if role:
        staff.groups.add(Group.objects.get(name=role))
    client = Client()
    client.force_login(staff)
    client.staff = staff
    return client
