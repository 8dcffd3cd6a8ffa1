"""Episodes: short stories of one customer, written as generators of timed events.

An episode yields ``(gap_ms, type, customer_id, anonymous_id, properties, context)`` tuples;
``gap_ms`` is the wished-for delay after the episode's previous event (ignored on the first).
Code between two ``yield``\\ s runs right after the earlier event has been emitted, so state
changes placed after a ``yield`` (e.g. "now identified") take effect in stream order.
Every ordering invariant the tests check (payment failure before its retry, a ticket opened
before it closes, anonymous browsing before the ``Identify`` that links it) follows from the
order of the ``yield``\\ s, whatever delays the scheduler adds.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from app.core.identity import hash_email
from app.core.timeutil import format_ms
from app.sim.calibration import SHOPPERS
from app.sim.customers import ADDONS, Customer, monthly_charges
from app.sim.sampling import Categorical, ZeroLognormal
from app.sim.world import World

Item = tuple[int, str, str | None, str | None, dict[str, Any], dict[str, Any]]
Episode = Iterator[Item]

SEC = 1_000
MIN = 60 * SEC
HOUR = 60 * MIN

# Conversion: the UCI share of sessions with revenue, lowered for churn-prone customers and
# raised for the others so that the pool-wide share stays close to the data's 15.5 %.
P_BUY = {False: 0.165, True: 0.10}
P_CART_BROWSING = 0.2  # a non-buying session still fills a cart (then abandons it)
P_CHECKOUT_ABANDON = 0.15  # ... and sometimes even starts the checkout first
P_SIGNUP_BROWSING = 0.06  # a prospect signs up without buying in this session
P_NEW_DEVICE = 0.1  # a known customer browses on a new device, anonymous until login
P_LOGIN_BROWSING = 0.5  # ... and logs in during a non-buying session
CART_ABANDON_AFTER_MS = 30 * MIN  # abandonment is declared after 30 min of inactivity
PAGE_CAPS = {"administrative": 27, "informational": 24, "product_related": 250}  # data maxima
P_PRODUCT_DETAIL = 0.6  # product_related pages that are a product's own page (ProductViewed)
P_PAYMENT_FAIL = {False: 0.07, True: 0.15}
P_PAYMENT_RETRY = 0.65
P_RETRY_FAIL = 0.3
FAIL_REASONS = Categorical(
    {
        "card_declined": 0.45,
        "insufficient_funds": 0.3,
        "expired_card": 0.15,
        "processing_error": 0.1,
    }
)
SEVERITY = {
    False: Categorical({"low": 0.55, "medium": 0.35, "high": 0.1}),
    True: Categorical({"low": 0.35, "medium": 0.4, "high": 0.25}),
}
TICKET_CLOSE_MEDIAN_MS = {"high": 1 * HOUR, "medium": 4 * HOUR, "low": 8 * HOUR}
TICKET_TOPICS = Categorical({"billing": 0.35, "outage": 0.25, "device": 0.2, "account": 0.2})
# After a ticket closes, some customers answer a satisfaction survey (CSAT 1-5) and fewer a
# recommendation one (NPS 0-10); customers about to churn answer lower.
P_CSAT_AFTER_TICKET = 0.4
P_NPS_AFTER_TICKET = 0.15
CSAT = {
    False: Categorical({"5": 0.45, "4": 0.3, "3": 0.12, "2": 0.08, "1": 0.05}),
    True: Categorical({"5": 0.2, "4": 0.25, "3": 0.2, "2": 0.2, "1": 0.15}),
}
NPS = {
    False: Categorical(
        {"10": 0.25, "9": 0.25, "8": 0.2, "7": 0.12, "6": 0.08, "4": 0.06, "2": 0.04}
    ),
    True: Categorical({"10": 0.1, "9": 0.1, "8": 0.15, "7": 0.15, "6": 0.15, "4": 0.2, "1": 0.15}),
}
SURVEY_COMMENTS = {
    "good": ("sorted quickly, thank you", "friendly and helpful", ""),
    "bad": ("took far too long", "still not fixed", "had to explain it three times"),
}
CONSENT_CHANNELS = Categorical({"email": 0.5, "sms": 0.3, "push": 0.2})
P_APPOINTMENT_MISSED = {False: 0.15, True: 0.35}
ONBOARDING_STEPS = (
    "verify_email",
    "complete_profile",
    "add_payment_method",
    "activate_service",
    "install_app",
)
P_ONBOARDING_CONTINUE = 0.8
CRM_CHANGES = Categorical({"bill": 0.5, "service": 0.2, "contract": 0.1, "payment": 0.2})
CONTRACTS = ("Month-to-month", "One year", "Two year")
PAYMENT_METHODS = (
    "Electronic check",
    "Mailed check",
    "Bank transfer (automatic)",
    "Credit card (automatic)",
)
_URLS = {
    "administrative": ("/account", "/account/orders", "/account/settings", "/login", "/cart"),
    "informational": ("/help", "/help/shipping", "/help/returns", "/about", "/contact"),
    "product_related": tuple(f"/shop/category-{i}" for i in range(1, 21)),
}


def _count(dist: ZeroLognormal, rng: Any, cap: int) -> int:
    value = dist.sample(rng)
    if value == 0.0:
        return 0
    n = round(value)
    return 1 if n < 1 else (cap if n > cap else n)


class _SessionModel:
    """Samplers for one class of session (buyer or browser), fitted to the UCI data."""

    def __init__(self, fit: dict[str, Any]) -> None:
        kinds = ("administrative", "informational", "product_related")
        self.counts = {k: ZeroLognormal.of(fit[k]["count"], cap=1e9) for k in kinds}
        self.durations = {k: ZeroLognormal.of(fit[k]["duration_s"], cap=3_600.0) for k in kinds}
        self.bounce = ZeroLognormal.of(fit["bounce_rate"], cap=0.2)  # the data's maximum
        self.exit = ZeroLognormal.of(fit["exit_rate"], cap=0.2)
        self.value = ZeroLognormal.of(fit["page_value"], cap=361.76)
        self.visitor_type: Categorical[str] = Categorical(fit["visitor_type"])
        self.operating_system: Categorical[int] = Categorical(fit["operating_system"])
        self.browser: Categorical[int] = Categorical(fit["browser"])
        self.region: Categorical[int] = Categorical(fit["region"])
        self.traffic_type: Categorical[int] = Categorical(fit["traffic_type"])


_BUYER = _SessionModel(SHOPPERS["buyer"])
_BROWSER = _SessionModel(SHOPPERS["browser"])


def _sync(w: World, cust: Customer) -> Episode:
    """At first sight of a known customer, the CRM sends their full record."""
    if cust.crm is None and cust.identified:
        yield (0, "ProfileUpdated", cust.customer_id, None, cust.make_record(new=False), _crm())


def _web(device: str | None = None) -> dict[str, Any]:
    """A web event's context; ``device``: the SDK's device id (``context.identifiers``)."""
    if device is None:
        return {"channel": "web", "source": "segue-sim"}
    return {"channel": "web", "source": "segue-sim", "identifiers": {"device_id": device}}


def email_hash(email: str) -> str:
    """What an SDK sends instead of the address (the identity core's one way to hash it)."""
    return hash_email(email)


def _crm() -> dict[str, Any]:
    return {"channel": "crm", "source": "segue-sim"}


def _ctx(channel: str) -> dict[str, Any]:
    return {"channel": channel, "source": "segue-sim"}


def session(w: World, cust: Customer) -> Episode:
    """A web session: pages, maybe a login or sign-up, a cart, an order or an abandonment."""
    rng = w.rng
    buyer = rng.random() < P_BUY[cust.churner]
    model = _BUYER if buyer else _BROWSER
    concurrent = cust.in_session
    cust.in_session = True
    yield from _sync(w, cust)
    cid: str | None = None
    anon: str | None = None
    # Device ids (SDK ``context.identifiers``) come from the world's counters, not the RNG, so
    # the rest of the stream is the same as without them. One device per browser id; a
    # person's usual device is ``cust.device_id``.
    if cust.identified and (concurrent or rng.random() < P_NEW_DEVICE):
        anon = w.next_id("anon")  # a known customer on a new device
        device = w.next_id("dev")
    elif cust.identified:
        cid = cust.customer_id
        if cust.device_id is None:
            cust.device_id = w.next_id("dev")
        device = cust.device_id
    else:
        if cust.anonymous_id is None or concurrent:
            cust.anonymous_id = w.next_id("anon")
            device = w.next_id("dev")
            if not concurrent:
                cust.device_id = device
        else:
            device = cust.device_id or w.next_id("dev")
        anon = cust.anonymous_id
    sid = w.next_id("s")
    yield (
        SEC,
        "SessionStarted",
        cid,
        anon,
        {
            "session_id": sid,
            "visitor_type": model.visitor_type.sample(rng),
            "operating_system": model.operating_system.sample(rng),
            "browser": model.browser.sample(rng),
            "region": model.region.sample(rng),
            "traffic_type": model.traffic_type.sample(rng),
        },
        _web(device),
    )

    # Page counts per kind; the order is drawn page by page (sampling without replacement is
    # a uniform shuffle) so that a session cut short by the end of the run costs little.
    left = {kind: _count(model.counts[kind], rng, cap) for kind, cap in PAGE_CAPS.items()}
    n_pages = sum(left.values())
    if n_pages == 0:
        left["product_related"] = n_pages = 1
    n_products = left["product_related"]
    wants_cart = buyer or rng.random() < P_CART_BROWSING
    adds_left = 0
    if wants_cart:
        adds_left = min(1 + (rng.random() < 0.4) + (rng.random() < 0.15), n_products)
    login_at = -1
    if cid is None and (
        buyer or rng.random() < (P_LOGIN_BROWSING if cust.identified else P_SIGNUP_BROWSING)
    ):
        login_at = rng.randrange(n_pages // 2, n_pages)

    bounce_base = model.bounce.sample(rng)
    exit_base = model.exit.sample(rng)
    value_base = model.value.sample(rng)
    durations = model.durations
    random = rng.random
    n_product, n_admin = left["product_related"], left["administrative"]
    items: list[dict[str, Any]] = []
    cart_value = 0.0
    gap = 2 * SEC
    signed_up = False
    for i in range(n_pages):
        if i == login_at:
            signed_up = not cust.identified
            yield from _identify(w, cust, anon, gap, signed_up, device)
            cid, anon, gap = cust.customer_id, None, 3 * SEC
        r = random() * (n_pages - i)
        add = False
        if r < n_product:
            kind = "product_related"
            # The remaining cart additions fall on the remaining product pages uniformly.
            if adds_left and random() * n_product < adds_left:
                add = True
                adds_left -= 1
            n_product -= 1
        elif r < n_product + n_admin:
            kind = "administrative"
            n_admin -= 1
        else:
            kind = "informational"
        seconds = durations[kind].sample(rng)
        # One jitter for both rates: pages that lose visitors lose them both ways.
        jitter = 0.5 + random()
        bounce = bounce_base * jitter
        exit_rate = exit_base * jitter
        props: dict[str, Any]
        if kind == "product_related" and (add or random() < P_PRODUCT_DETAIL):
            product_id, price = w.product()
            etype = "ProductViewed"
            props = {"session_id": sid, "product_id": product_id, "price": price}
        else:
            product_id, price = "", 0.0
            etype = "PageViewed"
            urls = _URLS[kind]
            props = {"session_id": sid, "page_type": kind, "url": urls[int(random() * len(urls))]}
        props["duration_s"] = round(seconds, 1)
        props["bounce_rate"] = round(bounce, 4) if bounce < 0.2 else 0.2
        props["exit_rate"] = round(exit_rate, 4) if exit_rate < 0.2 else 0.2
        props["page_value"] = round(value_base * (0.5 + random()), 2) if value_base else 0.0
        yield (gap, etype, cid, anon, props, _web(device))
        # An unmeasured (0 s) page still takes some time before the next one.
        gap = int(seconds * SEC) if seconds >= 2.0 else 2 * SEC
        if add:
            quantity = 1 if random() < 0.85 else 2
            items.append({"product_id": product_id, "quantity": quantity, "price": price})
            cart_value = round(cart_value + quantity * price, 2)
            yield (
                5 * SEC,
                "CartUpdated",
                cid,
                anon,
                {"cart_value": cart_value, "items": [dict(x) for x in items]},
                _web(device),
            )

    if buyer:
        if cid is None:  # defensive: buyers always log in before paying
            signup = not cust.identified
            yield from _identify(w, cust, anon, gap, signup, device)
            signed_up = signed_up or signup
            cid, anon, gap = cust.customer_id, None, 3 * SEC
        if not items:
            product_id, price = w.product()
            items.append({"product_id": product_id, "quantity": 1, "price": price})
            cart_value = price
            yield (
                gap,
                "CartUpdated",
                cid,
                None,
                {"cart_value": cart_value, "items": [dict(x) for x in items]},
                _web(device),
            )
            gap = 10 * SEC
        yield (gap, "CheckoutStarted", cid, None, {"cart_value": cart_value}, _web(device))
        order_id = w.next_id("o")
        yield (
            w.delay(60 * SEC, 0.6, 10 * SEC),
            "OrderPlaced",
            cid,
            None,
            {"order_id": order_id, "total": cart_value, "items": [dict(x) for x in items]},
            _web(device),
        )
        cust.in_session = False
        yield from _payments(w, cust, order_id, cart_value)
    elif items:
        if rng.random() < P_CHECKOUT_ABANDON:
            yield (gap, "CheckoutStarted", cid, anon, {"cart_value": cart_value}, _web(device))
        cust.in_session = False
        yield (
            CART_ABANDON_AFTER_MS,
            "CartAbandoned",
            cid,
            anon,
            {"cart_value": cart_value, "items": items},
            _ctx("system"),
        )
    cust.in_session = False
    if signed_up:
        yield from _onboarding(w, cust)


def _identify(
    w: World, cust: Customer, anon: str | None, gap: int, signup: bool, device: str
) -> Episode:
    """Log in (``Identify`` linking the anonymous id and the device, with the email's hash) or,
    for a prospect, sign up."""
    name, email = cust.name_and_email()
    cid = cust.customer_id
    context = _web(device)
    context["identifiers"]["email_hash"] = email_hash(email)
    yield (gap, "Identify", cid, anon, {"email": email, "name": name}, context)
    if signup:
        cust.identified = True
        record = cust.make_record(new=True)
        yield (2 * SEC, "SignedUp", cid, None, {"plan": record["plan"]}, _web(device))
        yield (SEC, "ProfileUpdated", cid, None, record, _crm())


def _onboarding(w: World, cust: Customer) -> Episode:
    web = _web(cust.device_id)  # on the device they signed up on
    for step in ONBOARDING_STEPS:
        delay = w.delay(20 * MIN, 1.0, 30 * SEC)
        yield (delay, "OnboardingStepCompleted", cust.customer_id, None, {"step": step}, web)
        if not w.chance(P_ONBOARDING_CONTINUE):
            return


def _payments(w: World, cust: Customer, order_id: str, amount: float) -> Episode:
    """Charge an order; a failure may be retried (by the customer or the provider) later."""
    cid = cust.customer_id
    p_fail = P_PAYMENT_FAIL[cust.churner]
    gap = w.delay(8 * SEC, 0.5, 2 * SEC)
    for attempt in range(3):
        if not w.chance(p_fail):
            props = {"order_id": order_id, "amount": amount}
            yield (gap, "PaymentSucceeded", cid, None, props, _ctx("payments"))
            return
        reason = w.choose(FAIL_REASONS)
        props = {"order_id": order_id, "amount": amount, "reason": reason}
        yield (gap, "PaymentFailed", cid, None, props, _ctx("payments"))
        if attempt == 2 or not w.chance(P_PAYMENT_RETRY):
            return
        delay = w.delay(45 * MIN, 1.0, MIN)
        yield (delay, "PaymentRetried", cid, None, {"order_id": order_id}, _ctx("payments"))
        gap = w.delay(5 * SEC, 0.5, SEC)
        p_fail = P_RETRY_FAIL


def support(w: World, cust: Customer) -> Episode:
    """A support ticket, closed some hours later (sooner when severe)."""
    yield from _sync(w, cust)
    cid = cust.customer_id
    ticket_id = w.next_id("t")
    severity = w.choose(SEVERITY[cust.churner])
    props = {"ticket_id": ticket_id, "severity": severity, "topic": w.choose(TICKET_TOPICS)}
    yield (2 * SEC, "TicketOpened", cid, None, props, _ctx("support"))
    delay = w.delay(TICKET_CLOSE_MEDIAN_MS[severity], 0.8, 5 * MIN)
    yield (delay, "TicketClosed", cid, None, {"ticket_id": ticket_id}, _ctx("support"))
    for survey, p_answer, scores, good in (
        ("csat", P_CSAT_AFTER_TICKET, CSAT, 4),
        ("nps", P_NPS_AFTER_TICKET, NPS, 9),
    ):
        if w.chance(p_answer):
            score = int(w.choose(scores[cust.churner]))
            comments = SURVEY_COMMENTS["good" if score >= good else "bad"]
            answer: dict[str, Any] = {"survey": survey, "score": score, "ticket_id": ticket_id}
            comment = comments[int(w.rng.random() * len(comments))]
            if comment:
                answer["comment"] = comment
            gap = w.delay(30 * MIN, 1.0, MIN)
            yield (gap, "SurveyAnswered", cid, None, answer, _ctx("support"))


def crm_update(w: World, cust: Customer) -> Episode:
    """A CRM change: a monthly bill (tenure + 1), a service, contract or payment change."""
    if cust.crm is None:
        yield from _sync(w, cust)
        return
    rec = cust.crm
    change = w.choose(CRM_CHANGES)
    props: dict[str, Any]
    if change == "service" and rec["internet_service"] != "No":
        addon = ADDONS[int(w.rng.random() * len(ADDONS))]
        rec[addon] = "No" if rec[addon] == "Yes" else "Yes"
        rec["monthly_charges"] = monthly_charges(rec, w.rng.gauss(0.0, 1.0))
        props = {addon: rec[addon], "monthly_charges": rec["monthly_charges"]}
    elif change == "contract":
        # Churn-prone customers drift to month-to-month, the others to longer terms.
        choices = [c for c in CONTRACTS if c != rec["contract"]]
        rec["contract"] = choices[0] if cust.churner else choices[-1]
        props = {"contract": rec["contract"]}
    elif change == "payment":
        choices = [m for m in PAYMENT_METHODS if m != rec["payment_method"]]
        rec["payment_method"] = choices[int(w.rng.random() * len(choices))]
        props = {"payment_method": rec["payment_method"]}
    else:  # a monthly bill
        rec["tenure"] += 1
        rec["total_charges"] = round(rec["total_charges"] + rec["monthly_charges"], 2)
        props = {"tenure": rec["tenure"], "total_charges": rec["total_charges"]}
    yield (0, "ProfileUpdated", cust.customer_id, None, props, _crm())


def consent(w: World, cust: Customer) -> Episode:
    """The customer flips their consent for one channel (everything is granted at first)."""
    yield from _sync(w, cust)
    channel = w.choose(CONSENT_CHANNELS)
    granted = not cust.consent.get(channel, True)
    cust.consent[channel] = granted
    props = {"channel": channel, "granted": granted}
    yield (SEC, "ConsentUpdated", cust.customer_id, None, props, _ctx("preferences"))


def unsubscribe(w: World, cust: Customer) -> Episode:
    """Rare: an unsubscribe from all marketing, which also revokes email consent."""
    yield from _sync(w, cust)
    cid = cust.customer_id
    yield (SEC, "Unsubscribed", cid, None, {}, _ctx("email"))
    cust.consent["email"] = False
    props = {"channel": "email", "granted": False}
    yield (SEC, "ConsentUpdated", cid, None, props, _ctx("preferences"))


def appointment(w: World, cust: Customer) -> Episode:
    """An appointment booked for later; churn-prone customers miss it more often."""
    yield from _sync(w, cust)
    appointment_id = w.next_id("ap")
    lead = w.delay(3 * HOUR, 0.8, 30 * MIN)
    at = w.now + lead  # now: the time of this episode's previous event (or its start)
    props = {"appointment_id": appointment_id, "at": format_ms(at)}
    yield (SEC, "AppointmentBooked", cust.customer_id, None, props, _ctx("app"))
    if w.chance(P_APPOINTMENT_MISSED[cust.churner]):
        # Declared missed 15 minutes after the slot; always at or after ``at``.
        after = lead + 15 * MIN
        props = {"appointment_id": appointment_id}
        yield (after, "AppointmentMissed", cust.customer_id, None, props, _ctx("app"))


EPISODES: dict[str, Callable[[World, Customer], Episode]] = {
    "session": session,
    "crm_update": crm_update,
    "support": support,
    "consent": consent,
    "appointment": appointment,
    "unsubscribe": unsubscribe,
}
# How often each kind of episode starts (the customer is then drawn by weight).
EPISODE_MIX: Categorical[str] = Categorical(
    {
        "session": 0.55,
        "crm_update": 0.18,
        "support": 0.07,
        "consent": 0.06,
        "appointment": 0.05,
        "unsubscribe": 0.01,
    }
)
DISCONTENT_KINDS = frozenset({"support", "consent", "unsubscribe"})
_PICK_TRIES = 4


def start_episode(w: World) -> Episode:
    """Choose the next episode and its customer; sessions prefer customers not in one."""
    kind = EPISODE_MIX.sample(w.rng)
    discontent = kind in DISCONTENT_KINDS
    cust = w.pick(discontent)
    for _ in range(_PICK_TRIES):
        if (not cust.in_session) if kind == "session" else cust.identified:
            break
        cust = w.pick(discontent)
    else:
        kind = "session"  # a prospect, or everyone busy: a (second-device) session
    return EPISODES[kind](w, cust)
