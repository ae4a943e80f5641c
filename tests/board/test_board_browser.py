"""The board in a real browser inside a real Airflow api-server: an ops engineer signs in to Airflow (the
simple auth manager's own login page), opens the board from the Airflow UI, filters it to the blocked
accounts, opens one and reads its audit trail.

Airflow's ``api-server`` runs as its own process on a free loopback port, with this repository's plugins
folder, the test's onboarding store as ``onboarding_db`` and the sandbox's connections; headless Chromium
drives it through Selenium.  Screenshots go to ``BOARD_SCREENSHOTS`` (a folder) when set, else to the test's
temporary folder.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.board.conftest import NOW, USERS, Accounts
from tests.browser import chromium, needs_chromium, screenshot_folder

pytestmark = needs_chromium


@pytest.fixture
def api_server(airflow_db: None, accounts: Accounts, tmp_path: Path) -> Iterator[str]:
    """``airflow api-server`` on a free port, with the ops engineer's login; stopped (its whole group) after."""
    from sandbox.mail import free_port

    port = free_port()
    passwords = tmp_path / "passwords.json"
    passwords.write_text(json.dumps({name: password for name, (_, password) in USERS.items()}))
    env = {
        **os.environ,
        "AIRFLOW__CORE__AUTH_MANAGER": "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": ",".join(f"{n}:{r}" for n, (r, _) in USERS.items()),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
        "AIRFLOW__API_AUTH__JWT_SECRET": "board-browser-jwt-secret-" + "0123456789abcdef" * 4,
        "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
        "AIRFLOW__API__WORKERS": "1",
        "ONBOARDING_CLOCK": f"fixed:{NOW.isoformat()}",
    }
    log = (tmp_path / "api-server.log").open("wb")
    server = subprocess.Popen(
        [sys.executable, "-m", "airflow", "api-server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
        env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    try:
        _wait_until_up(f"http://127.0.0.1:{port}/api/v2/version", server, tmp_path / "api-server.log")
        yield f"http://127.0.0.1:{port}"
    finally:
        _stop(server)
        log.close()


def _wait_until_up(url: str, server: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"airflow api-server exited:\n{log.read_text(errors='replace')[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=5):
                return
        except OSError as exc:
            if getattr(exc, "code", None) in (401, 403):
                return  # up, and asking for a token
            time.sleep(1)
    raise RuntimeError(f"airflow api-server did not answer within 180 s:\n{log.read_text(errors='replace')[-3000:]}")


def _stop(server: subprocess.Popen[bytes]) -> None:
    if server.poll() is not None:
        return
    os.killpg(server.pid, signal.SIGTERM)
    try:
        server.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait(timeout=10)


@pytest.fixture
def browser() -> Iterator[Any]:
    with chromium(1400, 1000, implicit_wait=10) as driver:
        yield driver


@pytest.fixture
def shots(tmp_path: Path) -> Any:
    folder = screenshot_folder("BOARD_SCREENSHOTS", tmp_path)

    def shot(driver: Any, name: str, height: int = 1000) -> Path:
        path = folder / f"board-{name}.png"
        driver.set_window_size(1400, height)
        driver.save_screenshot(str(path))
        return path

    shot.folder = folder  # type: ignore[attr-defined]
    return shot


def _wait(driver: Any, condition: Any, seconds: float = 30) -> Any:
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, seconds).until(condition)


def _in_board_frame(driver: Any) -> None:
    """Into the Airflow UI's frame that shows the board, once the board's page is in it."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions

    driver.switch_to.default_content()
    _wait(driver, expected_conditions.frame_to_be_available_and_switch_to_it((By.CSS_SELECTOR, "iframe")))
    _wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "main h1"))


def _navigates(driver: Any, action: Any) -> None:
    """Do ``action`` (a submit or a click in the frame) and wait until the next page has replaced this one."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions

    page = driver.find_element(By.TAG_NAME, "html")
    action()
    _wait(driver, expected_conditions.staleness_of(page))
    _in_board_frame(driver)


def test_an_ops_engineer_finds_a_blocked_account_and_reads_its_trail(
    browser: Any, shots: Any, api_server: str, accounts: Accounts
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions

    browser.get(f"{api_server}/board/")  # not signed in: the board refuses and says where to sign in
    assert "Sign in to Airflow" in browser.page_source and "Cedar Freight" not in browser.page_source

    browser.get(f"{api_server}/auth/login")
    _wait(browser, expected_conditions.presence_of_element_located((By.NAME, "username")))
    browser.find_element(By.NAME, "username").send_keys("ops.engineer")
    browser.find_element(By.NAME, "password").send_keys(USERS["ops.engineer"][1])
    browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    _wait(browser, lambda d: "/auth/login" not in d.current_url)

    browser.get(f"{api_server}/plugin/onboarding-board")
    _in_board_frame(browser)
    rows = browser.find_elements(By.CSS_SELECTOR, "#accounts tbody tr")
    assert [r.get_attribute("data-key") for r in rows] == [
        accounts.fresh, accounts.blocked, accounts.late, accounts.failed,
    ]  # fmt: skip

    browser.find_element(By.ID, "f-blocked").click()
    _navigates(browser, browser.find_element(By.CSS_SELECTOR, "#filters button").click)
    rows = browser.find_elements(By.CSS_SELECTOR, "#accounts tbody tr")
    assert [r.get_attribute("data-key") for r in rows] == [accounts.blocked, accounts.failed]
    assert "valid project is required" in browser.find_element(By.ID, "accounts").text
    browser.switch_to.default_content()
    assert "/plugin/onboarding-board" in browser.current_url
    shots(browser, "blocked")

    _in_board_frame(browser)
    _navigates(browser, browser.find_element(By.LINK_TEXT, "Cedar Freight").click)
    assert browser.find_element(By.ID, "account-name").text == "Cedar Freight"
    assert "billing_contact_email" in browser.find_element(By.ID, "blocked-reason").text
    timeline = browser.find_element(By.ID, "timeline").text
    for line in ("signed order taken in", "checklist sent to the customer", "billing_contact_email not accepted",
                 "company_domain verified", "invitation email queued", "readiness gate refused",
                 "escalation raised"):  # fmt: skip
        assert line in timeline, line
    shots(browser, "account", 1500)
    browser.find_element(By.ID, "audit").screenshot(str(shots.folder / "board-timeline.png"))

    # Into the Airflow UI's run page from the board: the whole window goes there, not the frame.
    run_link = browser.find_element(By.ID, "run-link")
    assert run_link.get_attribute("href").endswith(f"/dags/onboarding_smb/runs/onboarding__{accounts.blocked}")
    browser.switch_to.default_content()
    frame = browser.find_element(By.CSS_SELECTOR, "iframe")
    browser.switch_to.frame(frame)
    browser.find_element(By.ID, "run-link").click()
    browser.switch_to.default_content()
    _wait(browser, lambda d: f"/runs/onboarding__{accounts.blocked}" in d.current_url)
