"""The customer's side in a real browser (headless Chromium through Selenium): the invitation
read from the SMTP sandbox, the checklist, a rejected then verified VAT number, an upload,
a forwarded item, the timeline, and an expired link.

Screenshots go to ``PORTAL_SCREENSHOTS`` (a folder) when set, else to the test's temporary folder.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from include.onboarding import mail
from include.onboarding.config import OnboardingConfig
from include.onboarding.store import Store
from include.portal import links
from sandbox.mail import MailSandbox
from tests.browser import chromium, needs_chromium, screenshot_folder
from tests.portal.conftest import SECRET
from tests.portal.test_portal_http import PDF

pytestmark = needs_chromium


@pytest.fixture
def browser() -> Iterator[Any]:
    with chromium(1100, 1400) as driver:
        yield driver


@pytest.fixture
def shots(tmp_path: Path) -> Any:
    folder = screenshot_folder("PORTAL_SCREENSHOTS", tmp_path)

    def shot(driver: Any, name: str) -> Path:
        path = folder / f"portal-{name}.png"
        height = driver.execute_script("return document.body.scrollHeight")
        driver.set_window_size(1100, min(max(int(height) + 140, 700), 4000))
        driver.execute_script("window.scrollTo(0, 0)")
        driver.save_screenshot(str(path))
        return path

    return shot


def _navigates(driver: Any, action: Any) -> None:
    """Do ``action`` (a submit or a click) and wait until the next page has replaced this one."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    page = driver.find_element(By.TAG_NAME, "html")
    action()
    WebDriverWait(driver, 15).until(expected_conditions.staleness_of(page))


def _status(driver: Any, item: str) -> str:
    from selenium.webdriver.common.by import By

    return str(driver.find_element(By.CSS_SELECTOR, f"#item-{item} .status").get_attribute("data-status"))


def test_a_customer_works_through_the_checklist_in_a_browser(
    browser: Any,
    shots: Any,
    live_portal: str,
    store: Store,
    config: OnboardingConfig,
    make_account: Any,
    mailbox: MailSandbox,
    tmp_path: Path,
) -> None:
    from selenium.webdriver.common.by import By

    account = make_account()
    now = datetime.now(timezone.utc)
    mail.queue_invitation(store, config, account.key, now, secret=SECRET)
    assert mail.deliver_pending(store, config, now).sent == 1
    invitation = mailbox.wait_for(account.contact, "onboarding checklist")
    link = next(u for u in invitation.links if "/l/" in u)
    assert link.startswith(live_portal)

    browser.get(link)
    assert account.name in browser.find_element(By.TAG_NAME, "h1").text
    assert "Lukas Berger" in browser.page_source
    shots(browser, "checklist")

    vat = browser.find_element(By.ID, "f-billing_tax_id")
    vat.send_keys("GB123")
    _navigates(browser, vat.submit)
    assert _status(browser, "billing_tax_id") == "rejected"
    reason = browser.find_element(By.CSS_SELECTOR, "#item-billing_tax_id .reason").text
    assert reason.startswith("Why:") and len(reason) > 20
    assert "not accepted" in browser.find_element(By.ID, "verdict").text
    shots(browser, "rejected")

    vat = browser.find_element(By.ID, "f-billing_tax_id")
    vat.send_keys("GB980780684")
    _navigates(browser, vat.submit)
    assert _status(browser, "billing_tax_id") == "verified"
    assert "verified" in browser.find_element(By.ID, "verdict").text

    pdf = tmp_path / "signed-dpa.pdf"
    pdf.write_bytes(PDF)
    browser.find_element(By.ID, "f-signed_dpa").send_keys(str(pdf))
    _navigates(browser, browser.find_element(By.CSS_SELECTOR, "#item-signed_dpa button").click)
    assert _status(browser, "signed_dpa") == "verified"
    assert browser.find_element(By.LINK_TEXT, "signed-dpa.pdf")
    shots(browser, "verified")

    browser.find_element(By.CSS_SELECTOR, "input[name=items][value=company_domain]").click()
    browser.find_element(By.ID, "fw-name").send_keys("Ola Nordmann")
    browser.find_element(By.ID, "fw-email").send_keys("ola@northwind.example")
    _navigates(browser, browser.find_element(By.CSS_SELECTOR, "#forward button").click)
    assert "Forwarded" in browser.page_source
    forwarded = mailbox.wait_for("ola@northwind.example", "asked you")
    colleague = next(u for u in forwarded.links if "/l/" in u)

    _navigates(browser, browser.find_element(By.LINK_TEXT, "Timeline").click)
    timeline = browser.find_element(By.CSS_SELECTOR, "ul.timeline").text
    for line in ("VAT number: not accepted", "VAT number: verified", "signed-dpa.pdf received",
                 "forwarded to Ola Nordmann", "Invitation to this page sent to"):  # fmt: skip
        assert line in timeline
    shots(browser, "timeline")

    browser.get(colleague)
    assert browser.find_elements(By.ID, "item-company_domain")
    assert not browser.find_elements(By.ID, "item-billing_tax_id")
    shots(browser, "forwarded")

    past = now - timedelta(days=40)
    expired = links.sign(SECRET, account.key, account.contact, links.CHECKLIST, past, past + timedelta(days=14))
    browser.get(f"{live_portal}/l/{expired}")
    assert browser.find_element(By.TAG_NAME, "h1").text == "This link has expired"
    assert "lukas.berger@example.com" in browser.page_source and account.name not in browser.page_source
    shots(browser, "expired")
