"""The simulated customer pool and their CRM records (Telco-like attributes).

A customer's lasting traits (churn-prone or not, prospect or known, time zone, CRM record) are
derived from their index alone (fixed-seed draws, :func:`mix64`), so customer ``c-000042`` is the
same person under every seed and pool size; the seed only drives behaviour. Churn-prone
customers (the Telco churn rate) get attributes drawn from the Telco churners' frequencies and
behave more quietly.
"""

from __future__ import annotations

import random
from typing import Any

from app.core.features import ADD_ON_ATTRIBUTES
from app.sim.calibration import TELCO
from app.sim.sampling import Categorical, from_quantiles, mix64

# Share of the pool that starts as anonymous prospects (not yet known to the CRM).
PROSPECT_SHARE = 0.2
# A small set of IANA zones (quiet hours are evaluated in the customer's zone).
TIMEZONES = Categorical(
    {
        "Europe/London": 0.18,
        "Europe/Berlin": 0.16,
        "Europe/Paris": 0.1,
        "America/New_York": 0.2,
        "America/Chicago": 0.1,
        "America/Los_Angeles": 0.12,
        "Asia/Tokyo": 0.06,
        "Asia/Kolkata": 0.05,
        "Australia/Sydney": 0.03,
    }
)
PLAN_BY_INTERNET = {"No": "basic", "DSL": "standard", "Fiber optic": "premium"}
ADDONS = ADD_ON_ATTRIBUTES
_FIRST = ("alex", "sam", "maria", "li", "noah", "emma", "omar", "yuki", "ana", "jon", "priya")
_LAST = ("smith", "garcia", "chen", "muller", "khan", "silva", "kowalski", "sato", "okafor")

_SALT_RECORD = 0x524543  # keeps the record's hash apart from the name's
_TRAITS_RNG = random.Random(0)


class _TelcoClass:
    """Samplers for one churn label (naive-Bayes style: attributes independent given the label)."""

    def __init__(self, fit: dict[str, Any]) -> None:
        self.cats = {
            key: Categorical(fit[key])
            for key in (
                "gender",
                "senior_citizen",
                "partner",
                "dependents",
                "phone_service",
                "internet_service",
                "contract",
                "paperless_billing",
                "payment_method",
            )
        }
        self.p_multiple_lines: float = fit["p_multiple_lines"]
        self.p_addon: dict[str, float] = fit["p_addon"]
        self.tenure_quantiles: dict[str, list[float]] = fit["tenure_quantiles"]


_CHURNER = _TelcoClass(TELCO["churner"])
_STAYER = _TelcoClass(TELCO["stayer"])
_CHARGES = TELCO["monthly_charges"]
_COEF: dict[str, float] = _CHARGES["coef"]
_TOTAL_RATIO = TELCO["total_ratio"]


def monthly_charges(record: dict[str, Any], noise: float) -> float:
    """The Telco linear price of the services held, plus a residual draw."""
    price = _COEF["intercept"] + noise
    if record["phone_service"] == "Yes":
        price += _COEF["phone"]
    if record["multiple_lines"] == "Yes":
        price += _COEF["multiple_lines"]
    internet = record["internet_service"]
    if internet == "DSL":
        price += _COEF["dsl"]
    elif internet == "Fiber optic":
        price += _COEF["fiber"]
    for addon in ADDONS:
        if record[addon] == "Yes":
            price += _COEF[addon]
    return round(min(max(price, _CHARGES["min"]), _CHARGES["max"]), 2)


def pool_traits(size: int) -> tuple[list[bool], list[bool]]:
    """Churn-prone and prospect flags of customers 0..size-1 (the same under every seed)."""
    churn_rng = random.Random(0x43484E)
    prospect_rng = random.Random(0x50524F)
    p_churn = TELCO["p_churn"]
    churner = [churn_rng.random() < p_churn for _ in range(size)]
    prospect = [prospect_rng.random() < PROSPECT_SHARE for _ in range(size)]
    return churner, prospect


class Customer:
    """One simulated person; mutable behavioural state lives here."""

    __slots__ = (
        "anonymous_id",
        "churner",
        "consent",
        "crm",
        "customer_id",
        "device_id",
        "identified",
        "in_session",
        "index",
        "prospect",
        "timezone",
    )

    def __init__(self, index: int, churner: bool, prospect: bool) -> None:
        self.index = index
        self.customer_id = f"c-{index:06d}"
        self.churner = churner
        self.prospect = prospect
        # Known customers are identified from the start; prospects once they sign up.
        self.identified = not self.prospect
        self.anonymous_id: str | None = None
        self.device_id: str | None = None  # the usual device (SDK device id), once seen
        self.crm: dict[str, Any] | None = None  # set at first sight (known) or sign-up
        self.in_session = False
        self.consent: dict[str, bool] = {}
        self.timezone = ""

    def name_and_email(self) -> tuple[str, str]:
        h = mix64(self.index)
        first = _FIRST[h % len(_FIRST)]
        last = _LAST[(h >> 8) % len(_LAST)]
        return f"{first.title()} {last.title()}", f"{first}.{last}.{self.index}@example.com"

    def make_record(self, new: bool) -> dict[str, Any]:
        """The full CRM record (a ``ProfileUpdated`` payload); ``new``: a fresh sign-up.

        Also becomes the customer's CRM state (``crm``), which later updates change.
        """
        h = mix64(self.index ^ _SALT_RECORD)
        bank = _record_bank(self.churner)
        rec = dict(bank[h % len(bank)])
        if new:
            rec["tenure"] = 1
            rec["total_charges"] = rec["monthly_charges"]
        self.timezone = TIMEZONES.at((h >> 32) / 4294967296.0)
        rec["timezone"] = self.timezone
        rec["email"] = self.name_and_email()[1]
        self.crm = rec
        return dict(rec)


# Records are drawn once per process into a bank per churn label (fixed seeds), and each
# customer takes one by hash: ~20x cheaper than drawing ~25 attributes at every first sight.
_BANK_SIZE = 1024
_BANKS: dict[bool, list[dict[str, Any]]] = {}


def _record_bank(churner: bool) -> list[dict[str, Any]]:
    bank = _BANKS.get(churner)
    if bank is None:
        rng = random.Random(0x42414E4B + int(churner))
        bank = _BANKS[churner] = [draw_record(rng, churner) for _ in range(_BANK_SIZE)]
    return bank


def draw_record(rng: random.Random, churner: bool) -> dict[str, Any]:
    """One Telco-like record for a churn label (without the per-person timezone and email)."""
    cls = _CHURNER if churner else _STAYER
    cats = cls.cats
    rec: dict[str, Any] = {
        "gender": cats["gender"].sample(rng),
        "senior_citizen": int(cats["senior_citizen"].sample(rng)),
        "partner": cats["partner"].sample(rng),
        "dependents": cats["dependents"].sample(rng),
    }
    phone = cats["phone_service"].sample(rng)
    rec["phone_service"] = phone
    if phone == "Yes":
        rec["multiple_lines"] = "Yes" if rng.random() < cls.p_multiple_lines else "No"
    else:
        rec["multiple_lines"] = "No phone service"
    internet = cats["internet_service"].sample(rng)
    if phone == "No" and internet == "No":
        internet = "DSL"  # every Telco customer holds at least one service
    rec["internet_service"] = internet
    for addon in ADDONS:
        if internet == "No":
            rec[addon] = "No internet service"
        else:
            rec[addon] = "Yes" if rng.random() < cls.p_addon[addon] else "No"
    contract = cats["contract"].sample(rng)
    rec["contract"] = contract
    rec["paperless_billing"] = cats["paperless_billing"].sample(rng)
    rec["payment_method"] = cats["payment_method"].sample(rng)
    tenure = max(1, round(from_quantiles(cls.tenure_quantiles[contract], rng.random())))
    monthly = monthly_charges(rec, rng.gauss(0.0, _CHARGES["resid_sd"]))
    ratio = rng.gauss(_TOTAL_RATIO["mean"], _TOTAL_RATIO["sd"]) if tenure > 1 else 1.0
    rec["tenure"] = tenure
    rec["monthly_charges"] = monthly
    rec["total_charges"] = round(monthly * tenure * ratio, 2)
    rec["plan"] = PLAN_BY_INTERNET[internet]
    return rec
