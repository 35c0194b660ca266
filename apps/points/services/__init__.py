"""Writers of the points app. Import from here."""

from apps.points.services.awards import (
    TransactionIn,
    award_direct,
    awards_enqueue,
    awards_pending_due,
    awards_post,
    awards_record,
    partner_award_record,
    transaction_in,
    transactions_quote,
)
from apps.points.services.configuration import multiplier_errors, multiplier_save
from apps.points.services.exchanges import (
    exchange_in_record,
    exchange_out_create,
    exchange_out_reverse,
    exchange_out_send,
    exchanges_out_due,
    exchanges_out_enqueue,
    partner_exchange_secret_rotate,
)
from apps.points.services.rewards import (
    credit_rate_errors,
    credit_rate_save,
    redemption_cancel,
    redemption_create,
    redemption_fulfil,
    reward_save,
)
from apps.points.services.tiers import tier_recalculate, tiers_recalculate

__all__ = [
    "TransactionIn",
    "award_direct",
    "credit_rate_errors",
    "credit_rate_save",
    "awards_enqueue",
    "awards_pending_due",
    "awards_post",
    "awards_record",
    "exchange_in_record",
    "exchange_out_create",
    "exchange_out_reverse",
    "exchange_out_send",
    "exchanges_out_due",
    "exchanges_out_enqueue",
    "multiplier_errors",
    "multiplier_save",
    "partner_award_record",
    "redemption_cancel",
    "redemption_create",
    "redemption_fulfil",
    "reward_save",
    "partner_exchange_secret_rotate",
    "tier_recalculate",
    "tiers_recalculate",
    "transaction_in",
    "transactions_quote",
]
