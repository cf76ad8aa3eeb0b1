"""Payment providers: a small interface and a built-in test provider that needs no network.

A provider must be idempotent on `idempotency_key`: charging again with the same key returns the first charge
and takes no money twice. The order service relies on that to make a retried purchase safe after a crash
between the charge and the commit. A purchase that fails after its charge is refunded (`refund`, idempotent
on its own key); a refunded charge is never replayed as paid.
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


@dataclass(frozen=True)
class Refund:
    reference: str
    charge_reference: str
    amount: Decimal
    currency: str


class PaymentProvider(Protocol):
    name: str

    def charge(
        self, *, amount: Decimal, currency: str, idempotency_key: str, payment_method: str, description: str
    ) -> Charge:
        """Take the money; the same key returns the first charge, or PaymentError once it was refunded."""
        ...

    def refund(self, *, charge: Charge, idempotency_key: str, reason: str) -> Refund:
        """Give the whole charge back; idempotent on `idempotency_key` like `charge`."""
        ...


class TestProvider:
    """Accepts the payment methods `test-card` (paid), `test-declined` (declined) and `test-unavailable`
    (provider error); anything else is an unknown method. Charges and refunds are kept per process, keyed by
    idempotency key; `charge_for` and `refund_of` read them back (tests check what the buyer was charged)."""

    name = "test"
    _charges: dict[str, Charge] = {}
    _refunds: dict[str, Refund] = {}
    _lock = threading.Lock()

    def charge(
        self, *, amount: Decimal, currency: str, idempotency_key: str, payment_method: str, description: str
    ) -> Charge:
        if payment_method == "test-declined":
            raise PaymentError("the card was declined")
        if payment_method == "test-unavailable":
            raise PaymentError("the payment provider is unavailable; try again")
        if payment_method != "test-card":
            raise PaymentError(f"unknown payment method {payment_method!r} (the test provider takes 'test-card')")
        with self._lock:
            previous = self._charges.get(idempotency_key)
            if previous is not None:
                if self.refund_of(previous.reference) is not None:
                    raise PaymentError("this payment was refunded; start a new purchase")
                if (previous.amount, previous.currency) != (amount, currency):
                    raise PaymentError("this idempotency key was used for a different amount")
                return previous
            charge = Charge(reference=f"test_{uuid.uuid4().hex[:16]}", amount=amount, currency=currency)
            self._charges[idempotency_key] = charge
            return charge

    def refund(self, *, charge: Charge, idempotency_key: str, reason: str) -> Refund:
        with self._lock:
            previous = self._refunds.get(idempotency_key)
            if previous is not None:
                if previous.charge_reference != charge.reference:
                    raise PaymentError("this idempotency key was used to refund a different charge")
                return previous
            if charge.reference not in {c.reference for c in self._charges.values()}:
                raise PaymentError(f"no charge {charge.reference!r} to refund")
            if any(r.charge_reference == charge.reference for r in self._refunds.values()):
                raise PaymentError(f"charge {charge.reference!r} was already refunded")
            refund = Refund(
                reference=f"test_re_{uuid.uuid4().hex[:16]}",
                charge_reference=charge.reference,
                amount=charge.amount,
                currency=charge.currency,
            )
            self._refunds[idempotency_key] = refund
            return refund

    @classmethod
    def charge_for(cls, idempotency_key: str) -> Charge | None:
        return cls._charges.get(idempotency_key)

    @classmethod
    def refund_of(cls, charge_reference: str) -> Refund | None:
        return next((r for r in cls._refunds.values() if r.charge_reference == charge_reference), None)


def get_provider() -> PaymentProvider:
    return import_string(settings.LEDGERLINE_PAYMENT_PROVIDER)()
