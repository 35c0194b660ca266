"""Staff roles: each group holds exactly the permissions its job needs.

Rules are declarative so that a domain app added later is covered by the same rules
(e.g. Marketing gets view/add/change on everything in `offers` and `points`).
"""

from dataclasses import dataclass, field

from django.contrib.auth.models import Group, Permission
from django.db.models import Q


@dataclass(frozen=True)
class Role:
    name: str
    # app labels whose models the role may view/add/change (never delete)
    edit_apps: tuple[str, ...] = ()
    # "app_label.model" the role may view/add/change
    edit_models: tuple[str, ...] = ()
    # view every model of every app
    view_all: bool = False
    # "app_label.model" the role may view
    view_models: tuple[str, ...] = ()
    # "app_label.codename" extra permissions
    extra: tuple[str, ...] = field(default=())


ROLES: tuple[Role, ...] = (
    Role(
        name="Marketing",
        edit_apps=("offers", "points"),
        edit_models=("events.notificationtemplate", "giftcards.issuancebatch"),
        view_models=("giftcards.sandboxcard",),
        extra=("giftcards.issue_issuancebatch", "points.fulfil_redemption"),
    ),
    Role(
        name="Finance",
        view_all=True,
        extra=("identity.export_records",),
    ),
    Role(
        name="Support",
        view_models=(
            "identity.user",
            "events.inboundevent",
            "events.notification",
            "ledger.account",
            "ledger.entry",
            "ledger.posting",
            "ledger.hold",
            "giftcards.redemption",
            "giftcards.redemptionattempt",
            "giftcards.sandboxcard",
            "points.award",
            "points.exchange",
            "points.exchangerate",
            "points.expiryrun",
            "points.multiplier",
            "points.pointsexpiry",
            "points.pointsprofile",
            "points.redemption",
            "points.reward",
            "points.tierchange",
            "points.transactiondeadletter",
        ),
        extra=(
            "events.replay_inboundevent",
            "giftcards.reconcile_redemption",
            "points.fulfil_redemption",
            "points.retry_exchange",
        ),
    ),
)

_EDIT_ACTIONS = ("view", "add", "change")


def _model_q(app_model: str, actions: tuple[str, ...]) -> Q:
    app_label, model = app_model.split(".")
    return Q(
        content_type__app_label=app_label, content_type__model=model, codename__in=[f"{a}_{model}" for a in actions]
    )


def role_permissions(role: Role):
    q = Q(pk__in=[])
    for app_label in role.edit_apps:
        q |= Q(content_type__app_label=app_label) & (
            Q(codename__startswith="view_") | Q(codename__startswith="add_") | Q(codename__startswith="change_")
        )
    for app_model in role.edit_models:
        q |= _model_q(app_model, _EDIT_ACTIONS)
    if role.view_all:
        q |= Q(codename__startswith="view_")
    for app_model in role.view_models:
        q |= _model_q(app_model, ("view",))
    for perm in role.extra:
        app_label, codename = perm.split(".")
        q |= Q(content_type__app_label=app_label, codename=codename)
    return Permission.objects.filter(q)


def roles_sync() -> None:
    for role in ROLES:
        group, _ = Group.objects.get_or_create(name=role.name)
        group.permissions.set(role_permissions(role))


def roles_sync_after_migrate(sender, **kwargs) -> None:  # noqa: ARG001 - signal signature
    roles_sync()
