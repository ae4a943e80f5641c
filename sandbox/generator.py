"""Realistic signed orders, as a sales team leaves them in the CRM.

The onboarding DAGs are only as good as the data they are tested against, so
the generator produces what a real pipeline sees: mostly clean ``closedwon``
deals spread over business days, a few deals still in other stages that an
intake must ignore, and (on request) a fraction of orders broken in the ways a
hand-maintained CRM really breaks.  Every broken order carries a
``sandbox_defect`` property naming its defect, so a test or a demo can compare
the intake's verdict with the truth.

The output is a list of HubSpot property dicts (string values, ``None`` for an
empty property), deterministic for a given seed, ordered by the time the deal
reached its current stage so that loading them in order gives increasing
``hs_lastmodifieddate`` values.

The tiers, and each tier's regions and segments, come from the tier files
(``include/config/tiers/*.yaml``, read by :func:`load_config`), so a tier added
there gets orders too.  What the files do not say (how much a tier sells, its
deal sizes and add-ons) is kept here for the known tiers, with a default for a
new one.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone

from include.onboarding.config import OnboardingConfig, TierConfig, load_config

TIER_SHARES: dict[str, float] = {"enterprise": 0.3, "smb": 0.5, "partner": 0.2}
"""Relative share of the deals of each known tier.  The tiers are those of the tier files: the known ones in
this order, then any other in file-name order with :data:`NEW_TIER_SHARE`.  Any other tier value on a deal
is a defect."""

NEW_TIER_SHARE = 0.2
"""Relative share of the deals of a tier that :data:`TIER_SHARES` does not list."""

REGION_SHARES: dict[str, float] = {"NA": 0.5, "EMEA": 0.3, "APAC": 0.2}
"""Relative share of a tier's deals in each of the regions its tier file lists; a region not listed here
gets :data:`NEW_REGION_SHARE`.  ``LATAM`` has no onboarding team: ``LATAM`` deals are a defect."""

NEW_REGION_SHARE = 0.2
"""Relative share of the deals in a region that :data:`REGION_SHARES` does not list."""

SEGMENT_FLOORS: dict[str, int] = {"strategic": 200_000, "commercial": 12_000}
"""Smallest contract value of a segment, as the sales-ops rules assign them: a deal takes the first of its
tier's segments (in the tier file's order) whose floor it reaches, a segment not listed here having none;
failing that, the tier's last segment."""

ADDONS = ("sso", "premium_support", "sandbox_env", "data_migration", "training_pack")
"""Options of the ``addons`` multi-select, in HubSpot's option order."""

OPEN_STAGES = ("presentationscheduled", "decisionmakerboughtin", "contractsent", "closedlost")
"""Stages of deals that are not signed orders (the intake must skip them)."""

DEFECTS = (
    "missing_tier",
    "unknown_tier",
    "bad_contact_email",
    "unparsable_closedate",
    "region_without_owner",
    "go_live_before_close",
    "duplicate_order_number",
)
"""Values of ``sandbox_defect``: one per way a CRM export goes wrong."""

VENDOR_DOMAIN = "example.com"
"""Mail domain of the company's own staff (onboarding managers)."""

_COMPANY_HEADS = (
    "Acme",
    "Northwind",
    "Bluefin",
    "Cedar",
    "Harbor",
    "Ironclad",
    "Juniper",
    "Keystone",
    "Lumen",
    "Maple",
    "Nimbus",
    "Orchard",
    "Pioneer",
    "Quarry",
    "Redwood",
    "Summit",
    "Tidal",
    "Upland",
    "Vantage",
    "Willow",
    "Atlas",
    "Beacon",
    "Copper",
    "Drift",
    "Evergreen",
    "Falcon",
    "Granite",
    "Helix",
    "Indigo",
    "Kestrel",
    "Larch",
    "Meridian",
)
_COMPANY_TAILS = (
    "Robotics",
    "Logistics",
    "Analytics",
    "Health",
    "Foods",
    "Energy",
    "Freight",
    "Labs",
    "Capital",
    "Biotech",
    "Retail",
    "Systems",
    "Media",
    "Aerospace",
    "Insurance",
    "Pharma",
    "Telecom",
    "Outdoor",
    "Textiles",
    "Mobility",
    "Software",
    "Learning",
    "Dental",
    "Marine",
)
FIRST_NAMES = (
    "Jane",
    "Omar",
    "Priya",
    "Lukas",
    "Sofia",
    "Kenji",
    "Amara",
    "Mateo",
    "Chloe",
    "Arjun",
    "Ingrid",
    "Tomasz",
    "Grace",
    "Rafael",
    "Aisha",
    "Daniel",
    "Mei",
    "Oliver",
    "Fatima",
    "Liam",
    "Elena",
    "Kwame",
    "Hannah",
    "Yusuf",
    "Claire",
    "Nikhil",
    "Sara",
    "Jonas",
    "Leila",
    "Marcus",
)
LAST_NAMES = (
    "Doe",
    "Haddad",
    "Raman",
    "Becker",
    "Rossi",
    "Tanaka",
    "Okafor",
    "Alvarez",
    "Martin",
    "Mehta",
    "Larsen",
    "Nowak",
    "Kim",
    "Costa",
    "Bello",
    "Fischer",
    "Wong",
    "Hughes",
    "Rahman",
    "Murphy",
    "Petrova",
    "Mensah",
    "Schmidt",
    "Demir",
    "Dubois",
    "Iyer",
    "Lindqvist",
    "Weber",
    "Karimi",
    "Reid",
)
_PARTNERS = (
    "Brightline Consulting",
    "Northgate Partners",
    "Cobalt Systems Integration",
    "Meridian Channel Group",
    "Tidewater Solutions",
    "Pinecrest Digital",
)
# Onboarding managers a sales rep may name on the deal: the people of the
# sample company directory (include/config/settings.yaml), plus one who has
# since left, as happens in real CRMs.
_ONBOARDING_MANAGERS = (
    "priya.shah",
    "lukas.berger",
    "mei.tanaka",
    "sam.okafor",
    "ines.duarte",
    "priya.shah",
    "lukas.berger",
    "felix.brandt",
)

_COUNTRIES: dict[str, tuple[tuple[str, str, float], ...]] = {
    # region -> (top-level domain, currency, weight)
    "NA": ((".com", "USD", 0.7), (".io", "USD", 0.2), (".ca", "USD", 0.1)),
    "EMEA": ((".de", "EUR", 0.3), (".co.uk", "GBP", 0.3), (".fr", "EUR", 0.2), (".nl", "EUR", 0.2)),
    "APAC": ((".com.au", "AUD", 0.5), (".co.nz", "AUD", 0.2), (".sg", "USD", 0.3)),
    "LATAM": ((".com.br", "USD", 0.6), (".mx", "USD", 0.4)),
}
_OTHER_COUNTRIES = ((".com", "USD", 1.0),)
_SALES_REPS: dict[str, tuple[str, ...]] = {
    "NA": ("7001", "7002", "7003"),
    "EMEA": ("7101", "7102"),
    "APAC": ("7201", "7202"),
    "LATAM": ("7001", "7003"),
}
_OTHER_SALES_REPS = ("7001",)
_AMOUNT_RANGES: dict[str, tuple[int, int, int]] = {
    # tier -> (low, high, step) in whole currency units
    "enterprise": (60_000, 420_000, 1_000),
    "smb": (4_800, 36_000, 100),
    "partner": (18_000, 120_000, 500),
}
_OTHER_AMOUNT_RANGE = (10_000, 100_000, 500)
_ADDON_ODDS: dict[str, dict[str, float]] = {
    "enterprise": {"sso": 0.15, "premium_support": 0.35, "sandbox_env": 0.25, "data_migration": 0.2},
    "smb": {"premium_support": 0.15, "sandbox_env": 0.05, "training_pack": 0.2},
    "partner": {"premium_support": 0.2, "training_pack": 0.3},
}
_OTHER_ADDON_ODDS = {"premium_support": 0.15}
_DEAL_LABELS = {"enterprise": "Enterprise Annual", "smb": "Growth Plan", "partner": "Partner Resale"}
# Business days from signing to first value before the automation (the baseline), per tier.
_FIRST_VALUE_DAYS: dict[str, tuple[int, int]] = {"enterprise": (14, 20), "smb": (10, 15), "partner": (12, 18)}
_OTHER_FIRST_VALUE_DAYS = (10, 20)


@dataclass
class _Draft:
    """One deal under construction, with the true signing time kept aside.

    The true time survives even when the ``closedate`` property is corrupted,
    so drafts can still be ordered and numbered consistently.
    """

    signed_at: datetime
    properties: dict[str, str | None]


def generate_orders(
    count: int,
    seed: int,
    start: date,
    bad_ratio: float = 0.0,
    open_deals: int | None = None,
    business_days: int | None = None,
    config: OnboardingConfig | None = None,
) -> list[dict[str, str | None]]:
    """Return ``count`` signed orders plus a few deals in other stages.

    ``count`` is the number of ``closedwon`` deals, ``round(count * bad_ratio)``
    of which are broken (each marked with ``sandbox_defect``).  ``open_deals``
    deals in other stages are added (default ``count // 10``).  Close dates
    fall on business days from ``start`` on, spread over ``business_days`` of
    them (default: about three orders a day).  The deals are in the tiers of
    ``config`` (default: :func:`load_config`).  The same arguments and tier
    files always give the same list.
    """
    if count < 0:
        raise ValueError("count must be >= 0")
    if not 0.0 <= bad_ratio <= 1.0:
        raise ValueError("bad_ratio must be between 0 and 1")
    extra = open_deals if open_deals is not None else count // 10
    if count == 0 and extra == 0:
        return []  # an empty sandbox needs no tier files
    mix = _TierMix(config or load_config())
    rng = random.Random(seed)
    names = _Names(rng)
    days = _business_days(start, business_days or max(5, (count * 3) // 5))
    drafts = [_signed_order(rng, mix, next(names), at) for at in _signing_times(rng, days, count)]
    _number_orders(rng, drafts)
    _inject_defects(rng, drafts, round(count * bad_ratio))
    drafts += [_open_deal(rng, mix, next(names), days) for _ in range(extra)]
    drafts.sort(key=lambda d: d.signed_at)
    return [d.properties for d in drafts]


class _TierMix:
    """The tiers of the tier files, in the order and with the shares deals are drawn with."""

    def __init__(self, config: OnboardingConfig) -> None:
        known = [key for key in TIER_SHARES if key in config.tiers]
        others = sorted(key for key in config.tiers if key not in TIER_SHARES)
        self.tiers = [config.tiers[key] for key in known + others]
        self.shares = [TIER_SHARES.get(key, NEW_TIER_SHARE) for key in known + others]

    def draw(self, rng: random.Random) -> tuple[TierConfig, str]:
        """A tier, and one of its regions."""
        tier = rng.choices(self.tiers, weights=self.shares)[0]
        shares = [REGION_SHARES.get(region, NEW_REGION_SHARE) for region in tier.regions]
        return tier, rng.choices(tier.regions, weights=shares)[0]


class _Names:
    """Unique, plausible company names in a seeded order.

    Names are numbered ("Acme Robotics 2") only once all combinations are used,
    so large data sets keep the uniqueness an intake may rely on.
    """

    def __init__(self, rng: random.Random) -> None:
        combos = [f"{h} {t}" for h in _COMPANY_HEADS for t in _COMPANY_TAILS]
        rng.shuffle(combos)
        self._combos = combos
        self._index = 0

    def __iter__(self) -> _Names:
        return self

    def __next__(self) -> str:
        base = self._combos[self._index % len(self._combos)]
        lap = self._index // len(self._combos)
        self._index += 1
        return base if lap == 0 else f"{base} {lap + 1}"


def _business_days(start: date, count: int) -> list[date]:
    """The first ``count`` weekdays on or after ``start``."""
    days: list[date] = []
    day = start
    while len(days) < count:
        if day.weekday() < 5:
            days.append(day)
        day += timedelta(days=1)
    return days


def _signing_times(rng: random.Random, days: list[date], count: int) -> list[datetime]:
    """Signing times spread over ``days`` in office hours (UTC), sorted.

    The caller sizes ``days`` for one or two orders per business day, as a
    mid-size sales team closes.
    """
    times = []
    for _ in range(count):
        day = rng.choice(days)
        clock = time(hour=rng.randint(9, 17), minute=rng.randint(0, 59))
        times.append(datetime.combine(day, clock, tzinfo=timezone.utc))
    return sorted(times)


def iso_z(moment: datetime) -> str:
    """Format a UTC datetime the way HubSpot does: ``2026-11-02T14:03:00.000Z``."""
    moment = moment.astimezone(timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _weighted(rng: random.Random, options: tuple[tuple[str, str, float], ...]) -> tuple[str, str]:
    """Pick a (top-level domain, currency) pair by weight."""
    tld, currency, _ = rng.choices(options, weights=[o[2] for o in options])[0]
    return tld, currency


def _slug(name: str) -> str:
    """Company name to the label of its web domain (``Acme Robotics`` -> ``acme-robotics``)."""
    return "-".join(part for part in "".join(c if c.isalnum() else " " for c in name.lower()).split())


def _amount(rng: random.Random, tier: str) -> int:
    """Contract value for a tier, rounded as sales reps quote it."""
    low, high, step = _AMOUNT_RANGES.get(tier, _OTHER_AMOUNT_RANGE)
    return rng.randrange(low, high + 1, step)


def _segment(tier: TierConfig, amount: int) -> str:
    """Segment implied by tier and deal size, as sales-ops assigns it (see :data:`SEGMENT_FLOORS`)."""
    return next((s for s in tier.segments if amount >= SEGMENT_FLOORS.get(s, 0)), tier.segments[-1])


def _addons(rng: random.Random, tier: str) -> str | None:
    """Multi-select value (``sso;premium_support``) or ``None`` when nothing was sold."""
    odds = _ADDON_ODDS.get(tier, _OTHER_ADDON_ODDS)
    chosen = [name for name in ADDONS if rng.random() < odds.get(name, 0.0)]
    return ";".join(chosen) or None


def _base_deal(rng: random.Random, company: str, region: str, tier: TierConfig) -> dict[str, str | None]:
    """Properties every deal has, whatever its stage (the tier as the CRM names it: its first CRM value)."""
    tld, currency = _weighted(rng, _COUNTRIES.get(region, _OTHER_COUNTRIES))
    domain = _slug(company) + tld
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    amount = _amount(rng, tier.key)
    return {
        "dealname": f"{company} - {_DEAL_LABELS.get(tier.key, tier.display_name)}",
        "pipeline": "default",
        "amount": f"{amount:.2f}",
        "deal_currency_code": currency,
        "hubspot_owner_id": rng.choice(_SALES_REPS.get(region, _OTHER_SALES_REPS)),
        "onboarding_tier": tier.crm_tier_values[0],
        "company_name": company,
        "company_domain": domain,
        "region": region,
        "segment": _segment(tier, amount),
        "primary_contact_name": f"{first} {last}",
        "primary_contact_email": f"{first}.{last}@{domain}".lower(),
        "addons": _addons(rng, tier.key),
        "partner_name": rng.choice(_PARTNERS) if tier.key == "partner" else None,
        "onboarding_owner_email": None,
        "committed_go_live_date": None,
    }


def _signed_order(rng: random.Random, mix: _TierMix, company: str, signed_at: datetime) -> _Draft:
    """A clean ``closedwon`` deal signed at ``signed_at`` (order number set later)."""
    tier, region = mix.draw(rng)
    props = _base_deal(rng, company, region, tier)
    created = signed_at - timedelta(days=rng.randint(7, 120), hours=rng.randint(0, 6))
    props.update(dealstage="closedwon", closedate=iso_z(signed_at), createdate=iso_z(created))
    if rng.random() < 0.08:
        props["onboarding_owner_email"] = f"{rng.choice(_ONBOARDING_MANAGERS)}@{VENDOR_DOMAIN}"
    if rng.random() < 0.12:
        go_live = signed_at.date() + timedelta(days=rng.randint(30, 120))
        props["committed_go_live_date"] = go_live.isoformat()
    return _Draft(signed_at, props)


def _open_deal(rng: random.Random, mix: _TierMix, company: str, days: list[date]) -> _Draft:
    """A deal in another stage: no order number, expected close date only."""
    tier, region = mix.draw(rng)
    props = _base_deal(rng, company, region, tier)
    touched = datetime.combine(rng.choice(days), time(rng.randint(9, 17), rng.randint(0, 59)), timezone.utc)
    expected = touched + timedelta(days=rng.randint(10, 60))
    created = touched - timedelta(days=rng.randint(5, 60))
    props.update(
        dealstage=rng.choice(OPEN_STAGES),
        closedate=iso_z(expected),
        createdate=iso_z(created),
        order_number=None,
    )
    return _Draft(touched, props)


def _number_orders(rng: random.Random, drafts: list[_Draft]) -> None:
    """Give signed orders increasing order numbers with the gaps real numbering has."""
    sequence = rng.randint(100, 400)
    for draft in drafts:
        sequence += rng.randint(1, 3)
        draft.properties["order_number"] = f"SO-{draft.signed_at.year}-{sequence:05d}"


def _inject_defects(rng: random.Random, drafts: list[_Draft], bad: int) -> None:
    """Break ``bad`` orders, cycling through every defect kind before repeating one."""
    if bad == 0:
        return
    positions = sorted(rng.sample(range(len(drafts)), bad))
    kinds = list(DEFECTS)
    rng.shuffle(kinds)
    assigned = [kinds[i % len(kinds)] for i in range(bad)]
    # A duplicate needs an earlier order to copy, so give it the latest position.
    if "duplicate_order_number" in assigned:
        assigned.remove("duplicate_order_number")
        assigned.append("duplicate_order_number")
    for position, kind in zip(positions, assigned, strict=True):
        if kind == "duplicate_order_number" and position == 0:
            kind = "missing_tier"
        _break(rng, drafts, position, kind)


def _break(rng: random.Random, drafts: list[_Draft], position: int, kind: str) -> None:
    """Apply one defect to the draft at ``position`` and mark it."""
    props = drafts[position].properties
    first, last = (props["primary_contact_name"] or "Jane Doe").split(" ", 1)
    domain = props["company_domain"] or "example.org"
    signed = drafts[position].signed_at
    if kind == "missing_tier":
        props["onboarding_tier"] = None
    elif kind == "unknown_tier":
        props["onboarding_tier"] = "platinum"
    elif kind == "bad_contact_email":
        props["primary_contact_email"] = rng.choice(
            (f"{first}.{last}@".lower(), f"{first.lower()} at {domain}", f"{first}.{last}@@{domain}".lower())
        )
    elif kind == "unparsable_closedate":
        props["closedate"] = f"31/{rng.choice((4, 6, 9, 11)):02d}/{signed.year}"
    elif kind == "region_without_owner":
        props["region"] = "LATAM"
        props["deal_currency_code"] = "USD"
    elif kind == "go_live_before_close":
        props["committed_go_live_date"] = (signed.date() - timedelta(days=rng.randint(3, 30))).isoformat()
    elif kind == "duplicate_order_number":
        _duplicate(rng, drafts, position)
    props["sandbox_defect"] = kind


def _duplicate(rng: random.Random, drafts: list[_Draft], position: int) -> None:
    """Reuse an earlier order's number with conflicting data.

    Half the time it is the same customer at a different amount (a re-keyed
    order), otherwise another customer entirely (a copy-paste slip).
    """
    original = drafts[rng.randrange(position)].properties
    props = drafts[position].properties
    props["order_number"] = original["order_number"]
    if rng.random() < 0.5:
        for key in ("company_name", "company_domain", "region", "dealname", "deal_currency_code"):
            props[key] = original[key]
        old = float(original["amount"] or 0)
        props["amount"] = f"{round(old * rng.choice((0.8, 0.9, 1.1, 1.25)), -2):.2f}"


BASELINE_COLUMNS = (
    "account", "tier", "segment", "region", "signed_date", "first_value_date", "live_date", "status_emails",
)  # fmt: skip
"""Columns of the historical export :func:`generate_baseline` writes, as a CRM report names them."""


def generate_baseline(
    count: int, seed: int, end: date, weeks: int = 26, config: OnboardingConfig | None = None
) -> list[dict[str, str]]:
    """The company's onboardings before the automation: ``count`` accounts signed over ``weeks`` weeks before
    ``end``, the way a CRM report exports them (dates as day-month-name, some ISO).

    Like the simulated customers, in the same tiers, segments and regions; but coordinated by email: first
    value (setup complete) 2 to 4 weeks after signing (10 to 20 business days, enterprise at the long end),
    live a few business days after that, and about one status email or check-in per business day until live.
    Deterministic for a seed and the tier files of ``config`` (default: :func:`load_config`).  Accounts still
    onboarding at ``end`` have no live date.
    """
    mix = _TierMix(config or load_config())
    rng = random.Random(seed)
    names = _Names(rng)
    days = [d for d in _business_days(end - timedelta(weeks=weeks), weeks * 5) if d < end]
    rows: list[dict[str, str]] = []
    for signed in sorted(rng.choice(days) for _ in range(count)):
        tier, region = mix.draw(rng)
        low, high = _FIRST_VALUE_DAYS.get(tier.key, _OTHER_FIRST_VALUE_DAYS)
        to_first_value = rng.randint(low, high)
        first_value = _business_days(signed + timedelta(days=1), to_first_value)[-1]
        live = _business_days(first_value + timedelta(days=1), rng.randint(2, 6))[-1]
        touches = round((to_first_value + (live - first_value).days * 5 / 7) * rng.uniform(0.8, 1.3))
        written = (lambda d: f"{d.day} {d:%b %Y}") if rng.random() < 0.7 else (lambda d: d.isoformat())
        rows.append(
            {
                "account": next(names),
                "tier": tier.key,
                "segment": _segment(tier, _amount(rng, tier.key)),
                "region": region,
                "signed_date": written(signed),
                "first_value_date": written(first_value) if first_value <= end else "",
                "live_date": written(live) if live <= end else "",
                "status_emails": str(touches),
            }
        )
    return rows


def baseline_csv(rows: list[dict[str, str]]) -> str:
    """The export as CSV text, with its header."""
    import csv
    import io

    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(BASELINE_COLUMNS), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()
