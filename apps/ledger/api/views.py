from django.utils.dateparse import parse_datetime
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, status
from rest_framework.authentication import SessionAuthentication
from rest_framework.exceptions import NotFound
from rest_framework.pagination import CursorPagination
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.identity.authentication import ApiKeyAuthentication, UserTokenAuthentication
from apps.identity.permissions import HasScope, IsEndUser
from apps.ledger import selectors
from apps.ledger.amounts import Ref
from apps.ledger.api import serializers as s
from apps.ledger.api.plain_objects import plain_data
from apps.ledger.api.presenters import entry_out, lot_out, trace_out
from apps.ledger.exceptions import AssetMismatch
from apps.ledger.models import Account, Hold
from apps.ledger.services import (
    deposit,
    entry_reverse,
    hold_create,
    hold_post,
    hold_void,
    refund_to_balance,
    refund_to_payment_method,
    transfer,
    withdraw,
)
from config.errors import InvalidInput

WRITE = "ledger:write"
READ = ("ledger:read", "ledger:write")
REPLAYED = {"Idempotent-Replayed": "true"}


class LedgerServiceView(APIView):
    authentication_classes = [ApiKeyAuthentication]
    permission_classes = [HasScope]
    required_scope = WRITE


def _valid(serializer_class, request, **kwargs) -> dict:
    serializer = serializer_class(data=request.data, **kwargs)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def _answer(body: dict, serializer_class, replayed: bool) -> Response:
    data = plain_data(serializer_class, body)
    if replayed:
        return Response(data, status=status.HTTP_200_OK, headers=REPLAYED)
    return Response(data, status=status.HTTP_201_CREATED)


def _balance(result, owner: Ref, amount: dict, leg: int = 0) -> dict:
    """The owner's balance after the entry: from the posting result when it has it (the owner's
    account is the entry's leg `leg`), else read (a replay)."""
    account_id = result.account_ids[leg] if len(result.account_ids) > leg else None
    if account_id in result.balances:
        posted, pending = result.balances[account_id]
        return {
            "unit_type": amount["unit_type"],
            "unit_token": amount["unit_token"],
            "posted": posted,
            "pending": pending,
            "available": posted - pending,
        }
    return selectors.owner_balance(owner=owner, unit_type=amount["unit_type"], unit_token=amount["unit_token"])


def _movement_answer(result, data: dict, owner: Ref) -> Response:
    body = {
        "entry_id": result.entry_id,
        "owner": data["owner"],
        "amount": data["amount"],
        "balance": _balance_only(_balance(result, owner, data["amount"])),
    }
    return _answer(body, s.MovementResultSerializer, result.replayed)


def _balance_only(balance: dict) -> dict:
    return {k: balance[k] for k in ("unit_type", "unit_token", "posted", "pending", "available")}


class DepositView(LedgerServiceView):
    @extend_schema(
        summary="Deposit money to an owner",
        request=s.DepositSerializer,
        responses={201: s.MovementResultSerializer, 200: s.MovementResultSerializer},
        tags=["ledger"],
    )
    def post(self, request):
        data = _valid(s.DepositSerializer, request)
        owner = s.to_party(data["owner"])
        result = deposit(
            owner=owner,
            creator=s.to_party(data["creator"]),
            amount=s.to_amount(data["amount"]),
            reason=s.to_ref(data["reason"], "token"),
            idempotency_key=s.to_ref(data["idempotency_key"], "token"),
            tags=[(t["type"], t["token"]) for t in data["tags"]],
        )
        return _movement_answer(result, data, owner)


class WithdrawalView(LedgerServiceView):
    @extend_schema(
        summary="Withdraw money from an owner (422 insufficient_funds when not enough)",
        request=s.WithdrawalSerializer,
        responses={201: s.MovementResultSerializer, 200: s.MovementResultSerializer},
        tags=["ledger"],
    )
    def post(self, request):
        data = _valid(s.WithdrawalSerializer, request)
        owner = s.to_party(data["owner"])
        lot_filter = data.get("from") or {}
        result = withdraw(
            owner=owner,
            actor=s.to_party(data["actor"]),
            amount=s.to_amount(data["amount"]),
            reason=s.to_ref(data["reason"], "token"),
            idempotency_key=s.to_ref(data["idempotency_key"], "token"),
            lot_tags=[(t["type"], t["token"]) for t in lot_filter.get("tags", [])],
        )
        return _movement_answer(result, data, owner)


class TransferView(LedgerServiceView):
    @extend_schema(
        summary="Move money from one owner to another (the money keeps its tags)",
        request=s.TransferSerializer,
        responses={201: s.TransferResultSerializer, 200: s.TransferResultSerializer},
        tags=["ledger"],
    )
    def post(self, request):
        data = _valid(s.TransferSerializer, request)
        source = s.to_party(data["from"])
        destination = s.to_party(data["to"])
        result = transfer(
            source=source,
            destination=destination,
            actor=s.to_party(data["actor"]),
            amount=s.to_amount(data["amount"]),
            reason=s.to_ref(data["reason"], "token"),
            idempotency_key=s.to_ref(data["idempotency_key"], "token"),
        )
        body = {
            "entry_id": result.entry_id,
            "amount": data["amount"],
            "from": {"owner": data["from"], "balance": _balance_only(_balance(result, source, data["amount"], leg=0))},
            "to": {"owner": data["to"], "balance": _balance_only(_balance(result, destination, data["amount"], leg=1))},
        }
        return _answer(body, s.TransferResultSerializer, result.replayed)


def _hold_body(hold: Hold) -> dict:
    # read fresh: the hold's account balance has just changed
    account = Account.objects.select_related("asset").get(pk=hold.account_id)
    asset = account.asset
    return {
        "hold_id": hold.pk,
        "status": hold.status,
        "owner": {"type": account.owner_type, "id": account.owner_id},
        "amount": {"unit_type": asset.unit_type, "unit_token": asset.unit_token, "unit_count": hold.amount},
        "expires_at": hold.expires_at,
        "posted_amount": hold.posted_amount,
        "entry_id": hold.posted_entry_id,
        "balance": selectors.balance_view(account),
    }


class HoldCreateView(LedgerServiceView):
    @extend_schema(
        summary="Reserve money (two-phase: post or void it later)",
        request=s.HoldCreateSerializer,
        responses={201: s.HoldResultSerializer, 200: s.HoldResultSerializer},
        tags=["ledger"],
    )
    def post(self, request):
        data = _valid(s.HoldCreateSerializer, request)
        to = data.get("to")
        hold, replayed = hold_create(
            owner=s.to_party(data["owner"]),
            actor=s.to_party(data["actor"]),
            amount=s.to_amount(data["amount"]),
            reason=s.to_ref(data["reason"], "token"),
            idempotency_key=s.to_ref(data["idempotency_key"], "token"),
            expires_at=data.get("expires_at"),
            destination=s.to_party(to) if to else None,
        )
        return _answer(_hold_body(hold), s.HoldResultSerializer, replayed)


def _hold_or_404(hold_id: int) -> Hold:
    hold = Hold.objects.select_related("account__asset").filter(pk=hold_id).first()
    if hold is None:
        raise NotFound("No such hold.")
    return hold


def _actor(data, request) -> Ref:
    actor = data.get("actor")
    return s.to_party(actor) if actor else Ref("api_client", request.auth.prefix)


class HoldPostView(LedgerServiceView):
    @extend_schema(
        summary="Post all or part of a hold",
        request=s.HoldPostSerializer,
        responses={200: s.HoldResultSerializer},
        tags=["ledger"],
    )
    def post(self, request, hold_id: int):
        data = _valid(s.HoldPostSerializer, request)
        hold = _hold_or_404(hold_id)
        amount = data.get("amount")
        if amount is not None:
            asset = hold.account.asset
            if (amount["unit_type"], amount["unit_token"]) != (asset.unit_type, asset.unit_token):
                raise AssetMismatch(fields={"amount": {"unit_token": [f"The hold is in {asset}."]}})
        hold, result = hold_post(
            hold_id=hold.pk, actor=_actor(data, request), amount=amount["unit_count"] if amount else None
        )
        return Response(s.HoldResultSerializer(_hold_body(hold)).data, headers=REPLAYED if result.replayed else None)


class HoldVoidView(LedgerServiceView):
    @extend_schema(
        summary="Release a hold without moving money",
        request=s.HoldVoidSerializer,
        responses={200: s.HoldResultSerializer},
        tags=["ledger"],
    )
    def post(self, request, hold_id: int):
        data = _valid(s.HoldVoidSerializer, request)
        already_voided = _hold_or_404(hold_id).status == Hold.Status.VOIDED
        hold = hold_void(hold_id=hold_id, actor=_actor(data, request))
        return Response(s.HoldResultSerializer(_hold_body(hold)).data, headers=REPLAYED if already_voided else None)


class EntryReverseView(LedgerServiceView):
    @extend_schema(
        summary="Reverse an entry with a new, linked entry",
        request=s.ReverseSerializer,
        responses={201: s.ReverseResultSerializer, 200: s.ReverseResultSerializer},
        tags=["ledger"],
    )
    def post(self, request, entry_id: int):
        data = _valid(s.ReverseSerializer, request)
        result = entry_reverse(
            entry_id=entry_id,
            actor=s.to_party(data["actor"]),
            reason=s.to_ref(data["reason"], "token"),
            idempotency_key=s.to_ref(data["idempotency_key"], "token"),
        )
        return _answer({"entry_id": result.entry_id, "reverses": entry_id}, s.ReverseResultSerializer, result.replayed)


def _owner_from_query(request) -> Ref:
    owner_type, owner_id = request.query_params.get("ownerType", ""), request.query_params.get("ownerId", "")
    missing = {
        name: ["Required."] for name, value in (("ownerType", owner_type), ("ownerId", owner_id)) if not value.strip()
    }
    if missing:
        raise InvalidInput("ownerType and ownerId are required.", fields=missing)
    return Ref(owner_type, owner_id)


def _time_param(request, name: str):
    raw = request.query_params.get(name)
    if not raw:
        return None
    value = parse_datetime(raw)
    if value is None or value.tzinfo is None:
        raise InvalidInput(f"{name} must be an ISO-8601 time with a zone.", fields={name: ["Invalid time."]})
    return value


def _balances_body(owner: Ref, as_of) -> dict:
    return {
        "owner": {"type": owner.type, "id": owner.value},
        "as_of": as_of,
        "balances": selectors.owner_balances(owner=owner, as_of=as_of),
    }


OWNER_PARAMS = [OpenApiParameter("ownerType", str, required=True), OpenApiParameter("ownerId", str, required=True)]


class BalancesView(LedgerServiceView):
    required_scope = READ

    @extend_schema(
        summary="An owner's balances, now or as of a past time",
        parameters=[*OWNER_PARAMS, OpenApiParameter("asOf", str, description="ISO-8601 time with zone")],
        responses={200: s.OwnerBalancesSerializer},
        tags=["ledger"],
    )
    def get(self, request):
        body = _balances_body(_owner_from_query(request), _time_param(request, "asOf"))
        return Response(s.OwnerBalancesSerializer(body).data)


class EntryCursor(CursorPagination):
    ordering = "-id"
    page_size = 50
    page_size_query_param = "pageSize"
    max_page_size = 500


class EntryListMixin:
    pagination_class = EntryCursor

    def list(self, request, *args, **kwargs):
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(s.EntryOutSerializer([entry_out(e) for e in page], many=True).data)


class EntriesView(EntryListMixin, LedgerServiceView, generics.ListAPIView):
    required_scope = READ
    serializer_class = s.EntryOutSerializer

    def get_queryset(self):
        return selectors.entries_for_owner(
            owner=_owner_from_query(self.request),
            unit_token=self.request.query_params.get("unitToken") or None,
            since=_time_param(self.request, "from"),
            until=_time_param(self.request, "to"),
        )

    @extend_schema(
        summary="An owner's entries, newest first (cursor-paginated)",
        parameters=[
            *OWNER_PARAMS,
            OpenApiParameter("unitToken", str),
            OpenApiParameter("from", str),
            OpenApiParameter("to", str),
        ],
        tags=["ledger"],
    )
    def get(self, request, *args, **kwargs):
        return self.list(request)


def _entry_or_404(entry_id: int):
    entry = selectors.entry_get(entry_id=entry_id)
    if entry is None:
        raise NotFound("No such entry.")
    return entry


class EntryDetailView(LedgerServiceView):
    required_scope = READ

    @extend_schema(summary="One entry with its postings", responses={200: s.EntryOutSerializer}, tags=["ledger"])
    def get(self, request, entry_id: int):
        return Response(s.EntryOutSerializer(entry_out(_entry_or_404(entry_id))).data)


class EntryTraceView(LedgerServiceView):
    required_scope = READ

    @extend_schema(
        summary="Where an entry's money came from and went (lots)", responses={200: s.TraceSerializer}, tags=["ledger"]
    )
    def get(self, request, entry_id: int):
        trace = selectors.entry_trace(entry=_entry_or_404(entry_id))
        return Response(s.TraceSerializer(trace_out(trace)).data)


class MeBalancesView(APIView):
    authentication_classes = [UserTokenAuthentication, SessionAuthentication]
    permission_classes = [IsEndUser]

    @extend_schema(summary="My balances", responses={200: s.OwnerBalancesSerializer}, tags=["me"])
    def get(self, request):
        body = _balances_body(selectors.owner_ref_for_user(request.user), None)
        return Response(s.OwnerBalancesSerializer(body).data)


class MeEntriesView(EntryListMixin, generics.ListAPIView):
    authentication_classes = [UserTokenAuthentication, SessionAuthentication]
    permission_classes = [IsEndUser]
    serializer_class = s.EntryOutSerializer

    def get_queryset(self):
        return selectors.entries_for_owner(owner=selectors.owner_ref_for_user(self.request.user))

    @extend_schema(summary="My entries, newest first (cursor-paginated)", tags=["me"])
    def get(self, request, *args, **kwargs):
        return self.list(request)


class LotCursor(CursorPagination):
    ordering = "-id"
    page_size = 50
    page_size_query_param = "pageSize"
    max_page_size = 500


class MeLotsView(generics.ListAPIView):
    """The data behind the wallet picture: each lot, where it came from and what spent it."""

    authentication_classes = [UserTokenAuthentication, SessionAuthentication]
    permission_classes = [IsEndUser]
    serializer_class = s.TraceLotSerializer
    pagination_class = LotCursor

    def get_queryset(self):
        return selectors.owner_lots(owner=selectors.owner_ref_for_user(self.request.user))

    @extend_schema(summary="My money's lots: where each came from and what spent it (newest first)", tags=["me"])
    def get(self, request, *args, **kwargs):
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(s.TraceLotSerializer([lot_out(lot) for lot in page], many=True).data)


class RefundView(LedgerServiceView):
    @extend_schema(
        summary="Refund to a payment method (only refundable money) or back to the balance (reverses the purchase)",
        description="422 refund_not_allowed when the money that would go out is tagged refund_policy:no_refunds.",
        request=s.RefundSerializer,
        responses={201: s.RefundResultSerializer, 200: s.RefundResultSerializer},
        tags=["ledger"],
    )
    def post(self, request):
        data = _valid(s.RefundSerializer, request)
        owner = s.to_party(data["owner"])
        common = {
            "actor": s.to_party(data["actor"]),
            "reason": s.to_ref(data["reason"], "token"),
            "idempotency_key": s.to_ref(data["idempotency_key"], "token"),
        }
        if data["destination"] == "payment_method":
            result = refund_to_payment_method(owner=owner, amount=s.to_amount(data["amount"]), **common)
            amount = data["amount"]
        else:
            debit = selectors.owner_debit(entry_id=data["purchase_entry_id"], owner=owner)
            if debit is None:
                raise InvalidInput(
                    "purchaseEntryId is not a payment by this owner.",
                    fields={"purchase_entry_id": ["Not a payment by this owner."]},
                )
            result = refund_to_balance(purchase_entry_id=data["purchase_entry_id"], **common)
            amount = debit
        body = {
            "entry_id": result.entry_id,
            "owner": data["owner"],
            "amount": amount,
            "destination": data["destination"],
            "balance": _balance_only(
                selectors.owner_balance(owner=owner, unit_type=amount["unit_type"], unit_token=amount["unit_token"])
            ),
        }
        return _answer(body, s.RefundResultSerializer, result.replayed)
