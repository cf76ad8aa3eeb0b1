"""Payment providers: a small interface and a built-in test provider that needs no network.

A provider must be idempotent on `idempotency_key`: charging again with the same key returns the first charge
and takes no money twice. The order service relies on that to make a retried purchase safe after a crash
between the charge and the commit.
"""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from django.conf import settings
from django.utils.module_loading import import_string


class PaymentError(Exception):
    """The provider refused or failed the charge; nothing was taken. The message is shown to the buyer."""


@dataclass(frozen=True)
class Charge:
    reference: str
    amount: Decimal
    currency: str


class PaymentProvider(Protocol):
    name: str

    def charge(self, *, amount: Decimal, currency: str, idempotency_key: str, payment_method: str,
               description: str) -> Charge: ...


class TestProvider:
    """Accepts the payment methods `test-card` (paid), `test-declined` (declined) and `test-unavailable`
    (provider error); anything else is an unknown method. Charges are kept per process, keyed by idempotency key."""

    name = "test"
    _charges: dict[str, Charge] = {}
    _lock = threading.Lock()

    def charge(self, *, amount: Decimal, currency: str, idempotency_key: str, payment_method: str,
               description: str) -> Charge:
        if payment_method == "test-declined":
            raise PaymentError("the card was declined")
        if payment_method == "test-unavailable":
            raise PaymentError("the payment provider is unavailable; try again")
        if payment_method != "test-card":
            raise PaymentError(f"unknown payment method {payment_method!r} (the test provider takes 'test-card')")
        with self._lock:
            previous = self._charges.get(idempotency_key)
            if previous is not None:
                if (previous.amount, previous.currency) != (amount, currency):
                    raise PaymentError("this idempotency key was used for a different amount")
                return previous
            charge = Charge(reference=f"test_{uuid.uuid4().hex[:16]}", amount=amount, currency=currency)
            self._charges[idempotency_key] = charge
            return charge


def get_provider() -> PaymentProvider:
    return import_string(settings.LEDGERLINE_PAYMENT_PROVIDER)()
