"""Credits for the platform's managed model key, kept in the payments ledger.

A person's credits are the balance of their ledger account ``ai-credits:<user id>`` (positive: credit they
hold). An admin grant moves money from ``ai-credit-grants`` to it; a managed call moves its charge out of it,
the provider's cost to ``ai-provider-costs`` and the markup to ``platform``. Every movement is one balanced
transaction (:func:`alphabook.payments.ledger.post`) audited in the same unit of work.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from alphabook.accounts.models import User
from alphabook.ai.metering import CREDIT_CURRENCY, Price
from alphabook.core import audit
from alphabook.core.errors import Conflict, InvalidInput
from alphabook.core.money import Money
from alphabook.payments.ledger import PLATFORM, Leg, balance, post

__all__ = ["GRANTS", "PROVIDER_COSTS", "credit_account", "credit_balance", "debit", "grant", "require_credit"]

GRANTS = "ai-credit-grants"
PROVIDER_COSTS = "ai-provider-costs"


def credit_account(user_id: int) -> str:
    return f"ai-credits:{user_id}"


def credit_balance(session: Session, user: User) -> Money:
    return balance(session, credit_account(user.id), CREDIT_CURRENCY)


def grant(session: Session, user: User, amount: Money, actor: str, reason: str) -> str:
    """Give ``user`` ``amount`` of credits (an admin's decision, audited with its reason)."""
    if amount.currency != CREDIT_CURRENCY or amount.amount_minor <= 0:
        raise InvalidInput(f"Credits are granted as a positive amount in {CREDIT_CURRENCY}.")
    txn = post(session, "ai-credit-grant", [Leg(credit_account(user.id), amount), Leg(GRANTS, -amount)])
    audit.record(session, actor=actor, action="ai.credits.granted", subject=f"user:{user.id}",
                 amount_minor=amount.amount_minor, currency=amount.currency, reason=reason, txn=txn)
    return txn


def require_credit(session: Session, user: User) -> None:
    """Refuse a managed call before it is made when the person has no credit left."""
    if credit_balance(session, user).amount_minor <= 0:
        raise Conflict("You have no AI credits left for the platform's model: ask an admin for credits, or add "
                       "your own provider key in the assistant's settings (the offline assistant is free).")


def debit(session: Session, user: User, price: Price, model: str) -> str:
    """Charge one managed call to the person's credits; audited with the model, cost and charge."""
    markup = price.charge - price.cost
    txn = post(session, "ai-usage", [Leg(credit_account(user.id), -price.charge), Leg(PROVIDER_COSTS, price.cost),
                                     Leg(PLATFORM, markup)])
    audit.record(session, actor=user.name, action="ai.credits.debited", subject=f"user:{user.id}", model=model,
                 cost_minor=price.cost.amount_minor, charge_minor=price.charge.amount_minor,
                 currency=price.charge.currency, txn=txn)
    return txn
