"""The app in headless Chromium (Debian's package, driven by Playwright): chat, state table,
schema errors, evaluation. Screenshots go to $TOD_SCREENSHOTS (default: tests/artifacts/screenshots)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SHOTS = Path(os.environ.get("TOD_SCREENSHOTS") or ROOT / "tests" / "artifacts" / "screenshots")
ARGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip


@pytest.fixture(scope="module")
def page(app_url: str):  # type: ignore[no-untyped-def]
    if CHROMIUM is None:
        pytest.fail(
            "chromium is not installed: run scripts/install_browser.sh (the README's test command does)"
        )
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(app_url)
        page.wait_for_selector("#message textarea", timeout=30_000)
        yield page
        browser.close()


def test_chat_shows_reply_and_state(page) -> None:  # type: ignore[no-untyped-def]
    page.fill("#message textarea", "I'd like an italian restaurant in Porto")
    page.click("#send")
    page.wait_for_selector("#chatbot :text('Il Forno')", timeout=20_000)
    page.wait_for_selector("#state :text('Porto')", timeout=20_000)
    assert page.locator("#policy").inner_text().count("OFFER") >= 1
    page.screenshot(path=str(SHOTS / "chat.png"), full_page=True)


def test_schema_tab_shows_the_located_error(page) -> None:  # type: ignore[no-untyped-def]
    page.get_by_role("tab", name="Schema").click()
    editor = page.locator("#editor .cm-content")
    editor.wait_for(timeout=20_000)
    editor.click()
    page.keyboard.press("Control+End")
    page.keyboard.type("\nbogus_key: 1")
    page.click("#validate")
    page.wait_for_selector("#problems :text(\"unknown key 'bogus_key'\")", timeout=20_000)
    assert page.locator("#problems tr.problem").count() == 1
    page.screenshot(path=str(SHOTS / "schema.png"), full_page=True)


def test_evaluate_tab_runs(page) -> None:  # type: ignore[no-untyped-def]
    page.get_by_role("tab", name="Evaluate").click()
    page.get_by_role("button", name="Run").click()
    page.wait_for_selector("#metrics :text('all')", timeout=180_000)  # the learned user speaks
    page.screenshot(path=str(SHOTS / "evaluate.png"), full_page=True)
