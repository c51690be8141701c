"""Settings → Models & prices in a real browser (both databases): the model names seen in the
last 7 days, the live preview of a match pattern, adding and editing a definition through
HTMX, and recomputing the costs of observations that came in unpriced.

Each test seeds a project of its own through the live server's ingestion API: generations of
`acme-llm-7` (twice) and `ACME-LLM-8`, which no definition prices, and one `gpt-4o`, which a
built-in definition does. None sends a cost.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from playwright.sync_api import Locator, Page, expect

from tests.browser.conftest import SignedIn, ingest, shot
from tests.browser.test_pages import assert_not_reloaded, mark_page
from tests.factories import generation_event, iso, new_id, trace_event

PATTERN = r"^acme-llm-\d+$"
USAGE = {"input": 1000, "output": 100}
RECOMPUTE_WAIT_MS = 20_000


@dataclass
class Seeded:
    acme_7: list[str]  # observation ids
    acme_8: str
    gpt: str


def seed(live_url: str, signed_in: SignedIn) -> Seeded:
    """Four recent generations without a cost, each in a trace of its own."""
    now = datetime.now(UTC)
    models = ["acme-llm-7", "acme-llm-7", "ACME-LLM-8", "gpt-4o"]
    ids = [new_id() for _ in models]
    events = []
    for number, (model, obs_id) in enumerate(zip(models, ids, strict=True)):
        trace_id = new_id()
        start = now - timedelta(minutes=30 - number)
        events.append(trace_event(trace_id, timestamp=iso(start), name=f"call-{number}"))
        events.append(
            generation_event(
                obs_id, trace_id, start=start, seconds=0.5, model=model, usageDetails=USAGE
            )
        )
    ingest(live_url, signed_in.project, events)
    return Seeded(acme_7=ids[:2], acme_8=ids[2], gpt=ids[3])


@pytest.fixture
def seeded(signed_in_page: SignedIn, live_url: str) -> Seeded:
    return seed(live_url, signed_in_page)


def seen_row(page: Page, name: str) -> Locator:
    """The row of one model name in "Model names in the last 7 days"."""
    return page.locator("#seen-models tbody tr").filter(
        has=page.locator("code").get_by_text(name, exact=True)
    )


def screenshot(page: Page, step: str) -> None:
    """`shot` from the top of the page: scrolled down (the Edit link jumps to the form), a
    full-page screenshot draws the tables' sticky header rows over their first row."""
    page.evaluate("window.scrollTo(0, 0)")
    shot(page, step)


def own_rows(page: Page) -> Locator:
    return page.locator("#own-models tbody tr")


def observation_cost(live_url: str, signed_in: SignedIn, obs_id: str) -> float | None:
    response = httpx.get(
        f"{live_url}/api/public/observations/{obs_id}",
        headers=signed_in.project.headers,
        timeout=10,
    )
    assert response.status_code == 200, response.text
    cost: float | None = response.json()["calculatedTotalCost"]
    return cost


def test_preview_lists_the_model_names_a_pattern_matches_as_you_type(
    signed_in_page: SignedIn, seeded: Seeded
) -> None:
    signed_in, page = signed_in_page, signed_in_page.page
    signed_in.goto("settings/models")
    # The acme names came in unpriced: no definition, every observation counted as unpriced.
    acme = seen_row(page, "acme-llm-7")
    expect(acme).to_have_count(1)
    expect(acme.locator("td.num")).to_have_text(["2", "2"])
    expect(acme.locator(".badge.warn")).to_have_text("no definition")
    expect(seen_row(page, "ACME-LLM-8").locator(".badge.warn")).to_have_text("no definition")
    # A built-in definition prices gpt-4o at ingestion.
    expect(seen_row(page, "gpt-4o").locator("td.num")).to_have_text(["1", "0"])
    expect(seen_row(page, "gpt-4o").locator(".badge.warn")).to_have_count(0)
    preview = page.locator("#preview")
    expect(preview).to_contain_text("Type a match pattern above")
    screenshot(page, "seen")

    # Typed key by key: after the debounce HTMX fills the preview, without a reload.
    mark_page(page)
    pattern = page.locator("#model-form [name=match_pattern]")
    pattern.press_sequentially(PATTERN, delay=15)
    matches = preview.get_by_test_id("preview-matches")
    expect(matches.locator("li code")).to_have_text(["acme-llm-7", "ACME-LLM-8"])
    expect(preview).to_contain_text(
        "2 of the model names seen in the last 7 days match ^acme-llm-\\d+$ (1 others do not)."
    )
    expect(matches.locator("li").first).to_contain_text("2 observations, now unpriced")
    expect(matches).not_to_contain_text("gpt-4o")
    expect(pattern).to_have_value(PATTERN)  # the swap did not touch the input being typed in
    assert_not_reloaded(page)
    screenshot(page, "preview")

    # An invalid regular expression: an alert instead of the list.
    pattern.press("ControlOrMeta+a")
    pattern.press("Backspace")
    pattern.press_sequentially("^acme-(llm", delay=15)
    expect(preview.get_by_role("alert")).to_contain_text("not a regular expression")
    expect(matches).to_have_count(0)
    assert_not_reloaded(page)
    screenshot(page, "preview-error")


def test_add_edit_and_recompute_prices_the_unpriced_models(
    signed_in_page: SignedIn, seeded: Seeded, live_url: str
) -> None:
    signed_in, page = signed_in_page, signed_in_page.page
    signed_in.goto("settings/models")
    expect(seen_row(page, "acme-llm-7").locator(".badge.warn")).to_have_text("no definition")
    expect(own_rows(page)).to_have_count(1)
    expect(own_rows(page)).to_contain_text("None yet")
    assert observation_cost(live_url, signed_in, seeded.acme_7[0]) is None

    # Add a definition: HTMX swaps the definitions section, the page stays.
    mark_page(page)
    url = page.url
    form = page.locator("#model-form")
    form.get_by_label("Model name").fill("acme")
    form.locator("[name=match_pattern]").press_sequentially(PATTERN)
    expect(page.get_by_test_id("preview-matches").locator("li code")).to_have_text(
        ["acme-llm-7", "ACME-LLM-8"]
    )
    form.get_by_label("Input", exact=True).fill("1.5")
    form.get_by_label("Output", exact=True).fill("3")
    form.get_by_role("button", name="Save definition").click()
    status = page.locator("#definitions [role=status]")
    expect(status).to_contain_text("Saved acme")
    expect(own_rows(page)).to_have_count(1)
    row = own_rows(page).first
    expect(row.locator("td").first).to_have_text("acme")
    expect(row.locator("code")).to_have_text(PATTERN)
    expect(row.locator(".badge")).to_have_text(["input 1.5", "output 3"])
    expect(page.locator("#definitions [role=alert]")).to_have_count(0)
    # The form is empty again, ready for the next definition.
    expect(page.locator("#model-form").get_by_label("Model name")).to_have_value("")
    expect(page).to_have_url(url)
    # The recent names say at once what prices them now, and the preview is reset.
    expect(seen_row(page, "acme-llm-7").locator("td").last).to_have_text("acme")
    expect(seen_row(page, "ACME-LLM-8").locator("td").last).to_have_text("acme")
    expect(page.locator("#preview")).to_contain_text("Type a match pattern")
    assert_not_reloaded(page)
    screenshot(page, "saved")

    # Edit it: a page of its own with the form prefilled.
    row.get_by_role("link", name="Edit").click()
    expect(page).to_have_url(re.compile(r"[?&]edit=[^&#]+"))
    form = page.locator("#model-form")
    expect(form.get_by_role("heading")).to_have_text(re.compile(r"^\s*Edit acme\b"))
    expect(form.get_by_label("Model name")).to_have_value("acme")
    expect(form.locator("[name=match_pattern]")).to_have_value(PATTERN)
    expect(form.get_by_label("Input", exact=True)).to_have_value("1.5")
    expect(form.get_by_label("Output", exact=True)).to_have_value("3")
    expect(form.get_by_role("button", name="Save definition")).to_have_count(0)
    # The preview shows the prefilled pattern, and new traffic would now be priced as acme.
    expect(page.get_by_test_id("preview-matches").locator("li").first).to_contain_text(
        "now priced as acme"
    )
    screenshot(page, "edit")

    mark_page(page)
    form.get_by_label("Output", exact=True).fill("4")
    form.get_by_role("button", name="Save changes").click()
    expect(page.locator("#definitions [role=status]")).to_contain_text("Updated acme")
    expect(own_rows(page)).to_have_count(1)
    expect(own_rows(page).first.locator(".badge")).to_have_text(["input 1.5", "output 4"])
    expect(page.locator("#model-form").get_by_role("heading")).to_have_text("Add a definition")
    # The address no longer opens the edit form.
    expect(page).not_to_have_url(re.compile(r"edit="))
    assert_not_reloaded(page)
    screenshot(page, "updated")

    # Old observations keep their missing cost until a recompute.
    assert observation_cost(live_url, signed_in, seeded.acme_7[0]) is None
    recompute = page.locator("#recompute")
    recompute.get_by_role("button", name="Recompute").click()
    expect(
        recompute.locator("progress").or_(recompute.get_by_test_id("recompute-done"))
    ).to_be_visible()
    done = recompute.get_by_test_id("recompute-done")
    expect(done).to_contain_text("changed", timeout=RECOMPUTE_WAIT_MS)
    # Two acme-llm-7 and one ACME-LLM-8 got a price; gpt-4o had its built-in one already.
    expect(done).to_have_text(
        "Done: 4 observations examined, 3 changed (4 priced, 0 unpriced).",
        timeout=RECOMPUTE_WAIT_MS,
    )
    expect(recompute.get_by_role("alert")).to_have_count(0)
    # The unpriced counts of the recent names follow without a reload.
    expect(seen_row(page, "acme-llm-7").locator("td.num")).to_have_text(["2", "0"])
    assert_not_reloaded(page)
    screenshot(page, "recomputed")

    want = USAGE["input"] * 1.5e-6 + USAGE["output"] * 4e-6
    for obs_id in [*seeded.acme_7, seeded.acme_8]:
        assert observation_cost(live_url, signed_in, obs_id) == pytest.approx(want), obs_id
    assert observation_cost(live_url, signed_in, seeded.gpt) != pytest.approx(want)

    # Opened again, the page shows the acme names priced as acme, none of them unpriced.
    signed_in.goto("settings/models")
    acme = seen_row(page, "acme-llm-7")
    expect(acme.locator("td").last).to_have_text("acme")
    expect(acme.locator("td.num")).to_have_text(["2", "0"])
    expect(acme.locator(".badge.warn")).to_have_count(0)
    expect(seen_row(page, "ACME-LLM-8").locator("td").last).to_have_text("acme")
    screenshot(page, "reopened")
