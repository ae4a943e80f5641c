"""The board over HTTP inside Airflow's own API app: refused without Airflow's authentication, and for a
signed-in ops engineer the accounts in the order and with the facts the store holds.

The accounts (see conftest), as of Tuesday 24 Nov 10:00 in New York, and when each needs attention:

* Alder Health (SMB) has sat in intake since Monday 16 Nov 10:00; its 4-hour SLA ran out at 14:00;
* Cedar Freight (SMB) has the checklist, its clock stopped; its target (Tue 1 Dec) needs the 8.5
  business days the rest of its path takes to start by Wed 18 Nov 13:00;
* Kestrel Labs (enterprise) waits on approvals since Wed 18 Nov 10:00, a 3-day SLA: due Mon 23 Nov 10:00;
* Juniper Retail (partner) is in setup since Thu 19 Nov 10:00, a 4-day SLA: due Wed 25 Nov 10:00.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest

from include.onboarding import state
from include.onboarding.config import OnboardingConfig, Stage
from include.onboarding.store import Store
from tests.board.conftest import NOW, Accounts, token_for

ROUTES = ["/board/", "/board/accounts/hubspot-1", "/board/quarantine", "/board/runs/onboarding_smb/onboarding__x",
          "/board/static/board.css", "/board/?tier=smb"]  # fmt: skip


def _keys(html: str) -> list[str]:
    return re.findall(r'<tr data-key="([^"]+)"', html)


def _row(html: str, key: str) -> str:
    match = re.search(rf'<tr data-key="{re.escape(key)}".*?</tr>', html, re.S)
    assert match, f"no row for {key}"
    return re.sub(r"\s+", " ", match.group(0))


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


@pytest.mark.parametrize("path", ROUTES)
def test_an_anonymous_request_is_refused_and_shown_where_to_sign_in(
    airflow_client: Any, accounts: Accounts, path: str
) -> None:
    response = airflow_client.get(path)
    assert response.status_code == 401
    assert "Sign in to Airflow" in response.text
    for secret in ("Cedar Freight", "Kestrel Labs", accounts.blocked, "setup step"):
        assert secret not in response.text


def test_a_forged_token_is_refused(airflow_client: Any, accounts: Accounts) -> None:
    response = airflow_client.get("/board/", headers={"Authorization": "Bearer not-a-token"})
    assert response.status_code == 403 and "Cedar Freight" not in response.text


def test_the_ui_session_cookie_opens_the_board(airflow_client: Any, accounts: Accounts) -> None:
    airflow_client.cookies.set("_token", token_for(airflow_client, "viewer.only"))
    response = airflow_client.get("/board/")
    assert response.status_code == 200 and "Cedar Freight" in response.text


def test_open_accounts_most_urgent_first_with_their_clocks(ops: Any, accounts: Accounts) -> None:
    page = ops.get("/board/").text
    assert _keys(page) == [accounts.fresh, accounts.blocked, accounts.late, accounts.failed]
    summary = _text(re.search(r'<p class="summary".*?</p>', page, re.S).group(0))  # type: ignore[union-attr]
    assert summary == " 4 open 2 past their stage SLA 2 at risk 2 blocked "
    fresh = _row(page, accounts.fresh)
    assert (
        "48 of 4 business hours (1200%)" in fresh.replace('<span class="pct">', "").replace("</span>", "")
        and "past SLA" in fresh
        and "at risk" in fresh
    )
    cedar = _row(page, accounts.blocked)
    assert "clock stopped: customer's turn" in cedar and "1/3 verified, 1 not accepted" in cedar
    assert "<div>at risk</div><div>customer silent</div>" in cedar  # its open escalations
    assert "critical input &#39;billing_contact_email&#39; (Billing contact email) is rejected" in cedar
    kestrel = _row(page, accounts.late)
    assert "4 of 3 business days" in kestrel and "(133%)" in kestrel and "SLA breach (level 1)" in kestrel
    assert "Deal desk" not in kestrel and "Rachel Kim" in kestrel  # the stage owner, by name
    juniper = _row(page, accounts.failed)
    assert "3 of 4 business days" in juniper and "setup step implementation_ticket failed" in juniper
    assert "valid project is required" in juniper and "15 business days left" in juniper


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("?blocked=1", ["blocked", "failed"]),
        ("?at_risk=1", ["fresh", "blocked"]),
        ("?tier=smb", ["fresh", "blocked"]),
        ("?stage=approvals", ["late"]),
        ("?owner=rachel.kim@example.com", ["late"]),  # owns Kestrel's approvals stage
        ("?owner=sam.okafor@example.com&blocked=1", ["blocked"]),  # named owner of both SMB accounts
        ("?tier=enterprise&at_risk=1", []),
    ],
)
def test_filters(ops: Any, accounts: Accounts, query: str, expected: list[str]) -> None:
    response = ops.get(f"/board/{query}")
    assert response.status_code == 200
    assert _keys(response.text) == [getattr(accounts, name) for name in expected]
    if not expected:
        assert "No open account matches these filters." in response.text


def test_a_filter_the_board_cannot_use_is_refused_by_name(ops: Any, accounts: Accounts) -> None:
    response = ops.get("/board/?tier=gold")
    assert response.status_code == 400
    assert "tier &#39;gold&#39; is not one of enterprise, partner, smb" in response.text


def test_the_list_follows_the_store_without_waiting_for_the_escalation_pass(
    ops: Any, accounts: Accounts, store: Store, config: OnboardingConfig
) -> None:
    assert _keys(ops.get("/board/?stage=intake").text) == [accounts.fresh]
    state.advance(store, config, accounts.fresh, Stage.COLLECT_INPUTS, NOW - timedelta(hours=1), "test", "sent")
    assert _keys(ops.get("/board/?stage=intake").text) == []
    row = _row(ops.get("/board/").text, accounts.fresh)
    assert "collect inputs" in row and "past SLA" not in row
    store.conn.execute(
        "UPDATE onboarding.onboardings SET status = 'cancelled' WHERE onboarding_key = %s", (accounts.late,)
    )
    assert accounts.late not in _keys(ops.get("/board/").text)
    closed = ops.get(f"/board/accounts/{accounts.late}")  # still there to read, without a running clock
    assert closed.status_code == 200 and "status-cancelled" in closed.text and "In stage" not in closed.text


def test_pages_of_accounts(ops: Any, airflow_app: Any, store: Store, sandbox: Any, config: OnboardingConfig) -> None:
    from starlette.routing import Mount

    from include.board.app import create_app
    from include.onboarding.clock import FixedClock
    from tests.factories import deal_properties
    from tests.test_intake import pickup

    for n in range(23):
        signed = (NOW - timedelta(days=1, minutes=n)).isoformat()
        sandbox.state.upsert_deal(deal_properties(onboarding_tier="smb", segment="commercial", closedate=signed))
    pickup(store, config, "paging", clock=FixedClock(NOW))
    board = config.settings.board.model_copy(update={"page_size": 10})
    small = config.model_copy(update={"settings": config.settings.model_copy(update={"board": board})})
    airflow_app.router.routes.insert(0, Mount("/board-paged", create_app(config=small, clock=FixedClock(NOW))))
    try:
        pages = [ops.get(f"/board-paged/?page={n}").text for n in (1, 2, 3)]
    finally:
        airflow_app.router.routes.pop(0)
    keys = [_keys(page) for page in pages]
    assert [len(k) for k in keys] == [10, 10, 3] and len(set(sum(keys, []))) == 23
    assert "Page 2 of 3" in pages[1] and 'href="/board-paged/?page=3" rel="next"' in pages[1]
    assert 'rel="next"' not in pages[2]


def test_one_account_with_its_whole_record(ops: Any, accounts: Accounts, sandbox: Any) -> None:
    page = ops.get(f"/board/accounts/{accounts.blocked}")
    assert page.status_code == 200
    html, text = page.text, _text(page.text)
    assert "Cedar Freight" in html and "Sam Okafor" in html
    assert 'href="http://testserver/dags/onboarding_smb/runs/onboarding__' + accounts.blocked + '"' in html
    assert re.search(r'id="item-billing_contact_email".*?data-status="rejected"', html, re.S)
    assert "rejected : " in text and "billing@" in text  # the submission, its verdict and what was sent
    assert re.search(r'id="blocked-reason">critical input &#39;billing_contact_email&#39;', html)
    mail = _text(re.search(r'<section class="card" id="mail">.*?</section>', html, re.S).group(0))  # type: ignore[union-attr]
    assert "invitation" in mail and "jane.doe@northwind" in mail and "pending" in mail
    timeline = re.findall(r'<li data-type="([^"]+)"', html)
    assert timeline[:2] == ["onboarding.created", "stage.entered"]
    for kind in ("checklist.planned", "checklist.requested", "input.rejected", "input.verified", "mail.queued",
                 "gate.blocked", "escalation.raised"):  # fmt: skip
        assert kind in timeline
    split = dict(re.findall(r'<tr data-category="(\w+)">.*?<td class="num">([\d.]+)</td>', html, re.S))
    assert set(split) == {"customer", "approvals", "failures", "setup", "idle"}
    assert float(split["customer"]) > 0


def test_setup_steps_link_to_where_the_objects_live(ops: Any, accounts: Accounts, sandbox: Any) -> None:
    html = ops.get(f"/board/accounts/{accounts.failed}").text
    stripe = re.search(r'data-step="billing_profile".*?<a href="([^"]+)" data-top>(cus_\w+)</a>', html, re.S)
    assert stripe, "the billing profile's Stripe customer is linked"
    assert stripe.group(1) == f"http://127.0.0.1:{sandbox.port}/v1/customers/{stripe.group(2)}"
    assert re.search(r'data-step="implementation_ticket".*?failed.*?valid project is required', html, re.S)
    assert "margin within policy" in html and "rachel.kim@example.com" in html  # who decided, and why


def test_the_tab_on_a_tier_run_shows_its_account(ops: Any, accounts: Accounts) -> None:
    page = ops.get(f"/board/runs/onboarding_partner/onboarding__{accounts.failed}")
    assert page.status_code == 200 and "Juniper Retail" in page.text
    assert '<header class="top">' not in page.text  # inside the run's page: no board navigation
    other = ops.get("/board/runs/onboarding_intake/scheduled__2026-11-24T15:00:00+00:00")
    assert other.status_code == 200 and "does not carry an account" in other.text


def test_an_unknown_account_says_so(ops: Any, accounts: Accounts) -> None:
    page = ops.get("/board/accounts/hubspot-404")
    assert page.status_code == 404 and "There is no onboarding &#39;hubspot-404&#39;" in page.text


def test_the_quarantine_queue_says_what_is_wrong_and_how_to_fix_it(ops: Any, accounts: Accounts) -> None:
    text = _text(ops.get("/board/quarantine").text)
    assert f"deal {accounts.quarantined_deal}" in text
    assert "primary_contact_email" in text and "is not a valid email address" in text
    assert f"Correct primary_contact_email on deal {accounts.quarantined_deal} in the CRM" in text


def test_an_unreachable_store_is_said_plainly(ops: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from localstack.postgres import free_port
    from localstack.stack import postgres_connection_json

    nowhere = f"postgresql://onboarding@127.0.0.1:{free_port()}/onboarding"  # nothing listens there
    monkeypatch.setenv("AIRFLOW_CONN_ONBOARDING_DB", postgres_connection_json(nowhere))
    page = ops.get("/board/")
    assert page.status_code == 503
    assert "The onboarding store does not answer" in page.text and "&#39;onboarding_db&#39;" in page.text
