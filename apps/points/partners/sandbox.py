"""An in-process partner for demos and tests: it keeps every credit it received, keyed by
idempotency key (a repeat answers the first reference and credits nothing), and can be told to
fail its next calls. Its memory is the process's: one web or worker process, not a fleet."""

import threading
from dataclasses import dataclass, field

from apps.points.partners.base import (
    ExchangePartner,
    PartnerConfirmation,
    PartnerCredit,
    PartnerRefused,
    PartnerUnavailable,
)

# how the next calls fail: "unavailable" (nothing credited), "lost" (credited, but the answer
# never arrives, as after a timeout) or "refuse" (a definitive no)
FAILURE_MODES = ("unavailable", "lost", "refuse")


@dataclass
class SandboxBook:
    credits: dict[tuple[str, str], tuple[PartnerCredit, str]] = field(default_factory=dict)
    failures: dict[str, list[str]] = field(default_factory=dict)
    calls: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def fail_next(self, partner_code: str, count: int, *, mode: str = "unavailable") -> None:
        if mode not in FAILURE_MODES:
            raise ValueError(f"mode must be one of {FAILURE_MODES}")
        with self.lock:
            self.failures.setdefault(partner_code, []).extend([mode] * count)

    def received(self, partner_code: str) -> list[PartnerCredit]:
        with self.lock:
            return [credit for (code, _), (credit, _) in self.credits.items() if code == partner_code]

    def reset(self) -> None:
        with self.lock:
            self.credits.clear()
            self.failures.clear()
            self.calls.clear()


SANDBOX_BOOK = SandboxBook()


class SandboxPartner(ExchangePartner):
    book = SANDBOX_BOOK

    def credit(self, credit: PartnerCredit) -> PartnerConfirmation:
        code = self.partner.code
        with self.book.lock:
            self.book.calls[code] = self.book.calls.get(code, 0) + 1
            queued = self.book.failures.get(code) or []
            mode = queued.pop(0) if queued else "ok"
            if mode == "unavailable":
                raise PartnerUnavailable("sandbox partner unavailable")
            if mode == "refuse":
                raise PartnerRefused("sandbox partner refused the credit")
            key = (code, credit.idempotency_key)
            if key not in self.book.credits:
                self.book.credits[key] = (credit, f"SBX-{code.upper()}-{len(self.book.credits) + 1}")
            reference = self.book.credits[key][1]
        if mode == "lost":
            raise PartnerUnavailable("sandbox partner credited, but the answer was lost")
        return PartnerConfirmation(reference)
