"""Settings → Models & prices: definitions, the match preview, and recompute with progress."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from bs4 import BeautifulSoup
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from server.db.models import metric_hours
from tests.conftest import ProjectKeys
from tests.dashboard import signed_in
from tests.factories import generation_event, new_id


def soup(html: str) -> BeautifulSoup:
    return BeautifulSoup(html, "html.parser")


def ingest(client: TestClient, project: ProjectKeys, *events: dict[str, Any]) -> None:
    response = client.post(
        "/api/public/ingestion", json={"batch": list(events)}, headers=project.headers
    )
    assert response.status_code == 207 and response.json()["errors"] == []


def recent(obs_id: str, model: str, **fields: Any) -> dict[str, Any]:
    start = datetime.now(UTC) - timedelta(hours=1)
    return generation_event(obs_id, new_id(), start=start, at=start, model=model, **fields)


def cost_of(client: TestClient, project: ProjectKeys, obs_id: str) -> float | None:
    value: float | None = client.get(
        f"/api/public/observations/{obs_id}", headers=project.headers
    ).json()["calculatedTotalCost"]
    return value


class TestModelsPage:
    def test_it_lists_built_in_prices_per_million_and_recent_names_with_what_prices_them(
        self, client: TestClient, engine: Engine, project: ProjectKeys
    ) -> None:
        ingest(
            client,
            project,
            recent("a", "openai/gpt-4o-2024-08-06", usageDetails={"input": 10}),
            recent("b", "acme-llm-7", usageDetails={"input": 10}),
            recent("c", "<script>alert(1)</script>", usageDetails={"input": 10}),
        )
        browser = signed_in(client, engine, project, role="viewer")
        page = soup(browser.get(f"/project/{project.id}/settings/models").text)
        builtin = {
            row.td.get_text(): row for row in page.select("#builtin-models tbody tr") if row.td
        }
        assert (
            "input 2.5" in builtin["gpt-4o"].get_text()
            and "output 10" in builtin["gpt-4o"].get_text()
        )
        seen = {
            row.code.get_text(): row.get_text(" ", strip=True)
            for row in page.select("#seen-models tbody tr")
            if row.code
        }
        assert "priced as" not in seen["acme-llm-7"] and "no definition" in seen["acme-llm-7"]
        assert seen["openai/gpt-4o-2024-08-06"].endswith("gpt-4o")
        assert "<script>alert(1)</script>" in seen  # shown as text
        assert page.select_one("#seen-models script") is None
        assert page.select_one("#model-form") is None  # a viewer cannot add definitions

    def test_a_definition_added_on_the_page_prices_new_generations_and_recompute_reprices_old_ones(
        self, client: TestClient, engine: Engine, project: ProjectKeys
    ) -> None:
        ingest(
            client,
            project,
            recent("old", "acme-llm-7", usageDetails={"input": 1000, "output": 100}),
        )
        assert cost_of(client, project, "old") is None
        browser = signed_in(client, engine, project, role="member")
        url = f"/project/{project.id}/settings/models"
        saved = browser.htmx(
            "POST",
            url,
            data={
                "model_name": "acme",
                "match_pattern": "^acme-llm-\\d+$",
                "price_input": "1.5",
                "price_output": "$3",
            },
        )
        assert saved.status_code == 200, saved.text
        fragment = soup(saved.text)
        assert "Saved acme" in fragment.get_text()
        own = fragment.select("#own-models tbody tr")
        assert (
            len(own) == 1 and "input 1.5" in own[0].get_text() and "output 3" in own[0].get_text()
        )
        api = client.get("/api/public/models", headers=project.headers).json()["data"][0]
        assert api["modelName"] == "acme" and api["inputPrice"] == pytest.approx(1.5e-6)

        ingest(
            client,
            project,
            recent("new", "acme-llm-8", usageDetails={"input": 1000, "output": 100}),
        )
        assert cost_of(client, project, "new") == pytest.approx(1000 * 1.5e-6 + 100 * 3e-6)
        assert cost_of(client, project, "old") is None  # until recomputed

        started = browser.htmx(
            "POST",
            f"{url}/recompute",
            data={"start": (datetime.now(UTC) - timedelta(days=1)).strftime("%Y-%m-%d")},
        )
        assert started.status_code == 200
        deadline = time.monotonic() + 20
        fragment = soup(started.text)
        while fragment.select_one("[data-testid=recompute-done]") is None:
            poller = fragment.select_one("[hx-trigger='every 1s']")
            assert poller is not None, fragment
            assert fragment.select_one("progress") is not None
            assert time.monotonic() < deadline
            time.sleep(0.2)
            fragment = soup(browser.htmx("GET", str(poller["hx-get"])).text)
        assert "changed" in fragment.get_text()
        assert cost_of(client, project, "old") == pytest.approx(1000 * 1.5e-6 + 100 * 3e-6)

    @pytest.mark.parametrize(
        ("data", "message"),
        [
            (
                {"model_name": "x", "match_pattern": "(unclosed", "price_input": "1"},
                "not a regular expression",
            ),
            ({"model_name": "x", "match_pattern": "^x$"}, "at least one price"),
            (
                {"model_name": "x", "match_pattern": "^x$", "price_input": "cheap"},
                "is not a number",
            ),
            ({"model_name": "x", "match_pattern": "^x$", "price_input": "-1"}, "≥ 0"),
            (
                {"model_name": "", "match_pattern": "^x$", "price_input": "1"},
                "give the model a name",
            ),
            ({"model_name": "x", "price_input": "1", "start_date": "someday"}, "is not a date"),
        ],
    )
    def test_invalid_definitions_are_explained_and_nothing_is_saved(
        self,
        client: TestClient,
        engine: Engine,
        project: ProjectKeys,
        data: dict[str, str],
        message: str,
    ) -> None:
        browser = signed_in(client, engine, project)
        response = browser.htmx("POST", f"/project/{project.id}/settings/models", data=data)
        assert response.status_code == 400
        alert = soup(response.text).select_one("[role=alert]")
        assert alert is not None and message in alert.get_text()
        assert client.get("/api/public/models", headers=project.headers).json()["data"][0][
            "isLangfuseManaged"
        ]

    def test_the_preview_lists_the_recent_names_a_pattern_matches(
        self, client: TestClient, engine: Engine, project: ProjectKeys
    ) -> None:
        ingest(
            client,
            project,
            recent("p1", "acme-llm-7", usageDetails={"input": 1}),
            recent("p2", "ACME-LLM-8", usageDetails={"input": 1}),
            recent("p3", "gpt-4o", usageDetails={"input": 1}),
        )
        browser = signed_in(client, engine, project)
        url = f"/project/{project.id}/settings/models/preview"
        found = soup(browser.htmx("GET", url, params={"match_pattern": "^acme-llm-\\d+$"}).text)
        names = [code.get_text() for code in found.select("[data-testid=preview-matches] code")]
        assert sorted(names) == ["ACME-LLM-8", "acme-llm-7"]
        assert "1 others do not" in found.get_text()
        bad = soup(browser.htmx("GET", url, params={"match_pattern": "([a-"}).text)
        assert bad.select_one("[role=alert]") is not None

    def test_tiers_are_listed_with_their_conditions_and_named_in_the_trace_panel(
        self, client: TestClient, engine: Engine, project: ProjectKeys
    ) -> None:
        browser = signed_in(client, engine, project)
        page = soup(browser.get(f"/project/{project.id}/settings/models").text)
        rows = {
            row.select_one("td").get_text(strip=True): row  # type: ignore[union-attr]
            for row in page.select("#builtin-models tbody tr")
        }
        tier = rows["gemini-2.5-pro"].select_one("[data-testid=tier]")
        assert tier is not None
        text = " ".join(tier.get_text().split())
        assert "Long context (>200k input) — when usage ^input > 200,000" in text
        assert "input 2.5" in text and "output 15" in text
        assert rows["gpt-4o"].select_one("[data-testid=tier]") is None

        trace = new_id()
        ingest(
            client,
            project,
            generation_event(
                "long", trace, model="gemini-2.5-pro", usageDetails={"input": 250_000}
            ),
        )
        panel = soup(
            browser.get(f"/project/{project.id}/traces/{trace}?observation=long").text
        ).select_one("[data-fact=cost-note]")
        assert panel is not None
        assert panel.get_text() == (
            "computed from usage × the gemini-2.5-pro price, tier “Long context (>200k input)”"
        )

    def test_override_prefills_the_form_with_the_built_in_definition(
        self, client: TestClient, engine: Engine, project: ProjectKeys
    ) -> None:
        browser = signed_in(client, engine, project)
        page = soup(
            browser.get(f"/project/{project.id}/settings/models?override=builtin:gpt-4o-mini").text
        )
        form = page.select_one("#model-form")
        assert form is not None
        assert form.select_one("[name=model_name]")["value"] == "gpt-4o-mini"  # type: ignore[index]
        assert form.select_one("[name=price_input]")["value"] == "0.15"  # type: ignore[index]
        assert form.select_one("[name=price_input_cached_tokens]")["value"] == "0.075"  # type: ignore[index]

    def test_a_project_definition_is_edited_in_place_and_keeps_prices_the_form_has_no_field_for(
        self, client: TestClient, engine: Engine, project: ProjectKeys, other_project: ProjectKeys
    ) -> None:
        created = client.post(
            "/api/public/models",
            json={
                "modelName": "acme",
                "matchPattern": "^acme-llm-\\d+$",
                "startDate": "2026-01-15T00:00:00Z",
                "pricingTiers": [
                    {
                        "isDefault": True,
                        "prices": {"input": 1e-6, "output": 2e-6, "requests": 0.01},
                    },
                    {
                        "name": "huge",
                        "isDefault": False,
                        "priority": 1,
                        "conditions": [
                            {"usageDetailPattern": "^input", "operator": "gt", "value": 1e6}
                        ],
                        "prices": {"input": 5e-6},
                    },
                ],
            },
            headers=project.headers,
        )
        assert created.status_code == 200, created.text
        model_id = created.json()["id"]
        browser = signed_in(client, engine, project, role="member")
        url = f"/project/{project.id}/settings/models"
        page = soup(browser.get(url).text)
        edit = page.select_one("#own-models a[href*=edit]")
        assert edit is not None and edit["href"] == f"?edit={model_id}#model-form"

        form = soup(browser.get(f"{url}?edit={model_id}").text).select_one("#model-form")
        assert form is not None and "Edit acme" in form.get_text()

        def value(name: str) -> str:
            found = form.select_one(f"[name={name}]")
            assert found is not None, name
            return str(found["value"])

        assert value("definition_id") == model_id
        assert (value("model_name"), value("match_pattern")) == ("acme", "^acme-llm-\\d+$")
        assert (value("start_date"), value("price_input"), value("price_output")) == (
            "2026-01-15",
            "1",
            "2",
        )
        kept = form.select_one("[data-testid=kept-prices]")
        assert kept is not None and "requests 10000" in kept.get_text()
        kept_tiers = form.select_one("[data-testid=kept-tiers]")
        assert kept_tiers is not None and "1 pricing tier " in kept_tiers.get_text()

        saved = browser.htmx(
            "POST",
            url,
            data={
                "definition_id": model_id,
                "model_name": "acme v2",
                "match_pattern": "^acme-llm-\\d+$",
                "start_date": "2026-01-15",
                "price_input": "1",
                "price_output": "4",
            },
        )
        assert saved.status_code == 200, saved.text
        assert "Updated acme v2" in soup(saved.text).get_text()
        own = [
            m
            for m in client.get("/api/public/models", headers=project.headers).json()["data"]
            if not m["isLangfuseManaged"]
        ]
        assert [m["id"] for m in own] == [model_id]  # changed in place, not added
        assert own[0]["modelName"] == "acme v2"
        assert own[0]["outputPrice"] == pytest.approx(4e-6)
        assert own[0]["prices"]["requests"]["price"] == pytest.approx(0.01)
        assert [t["name"] for t in own[0]["pricingTiers"]] == ["Standard", "huge"]
        ingest(
            client, project, recent("e1", "acme-llm-3", usageDetails={"input": 10, "output": 10})
        )
        assert cost_of(client, project, "e1") == pytest.approx(10 * 1e-6 + 10 * 4e-6)

        # Built-in definitions and other projects' definitions are not editable here.
        page = soup(browser.get(f"{url}?edit=builtin:gpt-4o").text)
        alert = page.select_one("#definitions [role=alert]")
        assert alert is not None and "No such definition" in alert.get_text()
        assert page.select_one("[name=definition_id]") is None
        theirs = client.post(
            "/api/public/models",
            json={"modelName": "theirs", "matchPattern": "^theirs$", "inputPrice": 1e-6},
            headers=other_project.headers,
        ).json()["id"]
        for target in ("builtin:gpt-4o", theirs):
            refused = browser.htmx(
                "POST",
                url,
                data={"definition_id": target, "model_name": "x", "price_input": "9"},
            )
            assert refused.status_code == 404
        other = client.get("/api/public/models", headers=other_project.headers).json()["data"]
        assert other[0]["modelName"] == "theirs" and other[0]["inputPrice"] == pytest.approx(1e-6)

    def test_viewers_cannot_change_definitions_or_recompute(
        self, client: TestClient, engine: Engine, project: ProjectKeys
    ) -> None:
        browser = signed_in(client, engine, project, role="viewer")
        url = f"/project/{project.id}/settings/models"
        assert (
            browser.form(
                url, {"model_name": "x", "match_pattern": "^x$", "price_input": "1"}
            ).status_code
            == 403
        )
        assert browser.form(f"{url}/recompute", {}).status_code == 403


class TestCostInTheTracePanel:
    def test_the_panel_says_where_a_cost_came_from_or_why_there_is_none(
        self, client: TestClient, engine: Engine, project: ProjectKeys
    ) -> None:
        trace = new_id()
        ingest(
            client,
            project,
            generation_event("mystery", trace, model="acme-llm-7", usageDetails={"input": 5}),
            generation_event("known", trace, model="gpt-4o", usageDetails={"input": 5}),
            generation_event(
                "sent", trace, model="gpt-4o", usageDetails={"input": 5}, costDetails={"total": 1.0}
            ),
            generation_event(
                "guess", trace, model="gpt-4o", usageDetails=None, input="hello there " * 20
            ),
        )
        browser = signed_in(client, engine, project, role="viewer")

        def facts(obs_id: str) -> BeautifulSoup:
            url = f"/project/{project.id}/traces/{trace}?observation={obs_id}"
            return soup(browser.htmx("GET", url).text)

        mystery = facts("mystery")
        assert mystery.select_one("[data-fact=cost]").get_text(" ", strip=True).startswith("—")  # type: ignore[union-attr]
        note = mystery.select_one("[data-fact=cost-note]")
        assert (
            note is not None
            and note.get_text() == "unpriced: no price definition matches 'acme-llm-7'"
        )
        known = facts("known").select_one("[data-fact=cost-note]")
        assert known is not None and known.get_text() == "computed from usage × the gpt-4o price"
        sent = facts("sent").select_one("[data-fact=cost-note]")
        assert sent is not None and sent.get_text() == "sent by the client"
        guess = facts("guess")
        assert guess.find(string="estimated") is not None
        assert facts("known").find(string="estimated") is None


class TestCostOnTheMetricsPage:
    def test_client_computed_and_unpriced_costs_add_up_per_day_and_a_recompute_prices_the_rest(
        self, client: TestClient, engine: Engine, project: ProjectKeys, settings: Any
    ) -> None:
        from server.pricing.recompute import recompute_costs
        from tests.otlp_bodies import export, span, span_id, trace_id

        hours_ago = datetime.now(UTC) - timedelta(hours=3)
        ingest(
            client,
            project,
            generation_event(
                "m-sent",
                new_id(),
                start=hours_ago,
                at=hours_ago,
                model="gpt-4o",
                usageDetails={"input": 10},
                costDetails={"total": 0.25},
            ),
            generation_event(
                "m-priced",
                new_id(),
                start=hours_ago,
                at=hours_ago,
                model="gpt-4o",
                usageDetails={"input": 1000, "output": 100},
            ),
            generation_event(
                "m-unknown",
                new_id(),
                start=hours_ago,
                at=hours_ago,
                model="acme-llm-7",
                usageDetails={"input": 1000},
            ),
        )
        # An OTLP span three hours ago, priced from GenAI usage.
        tid, sid = trace_id(), span_id()
        body = export(
            span(
                tid,
                sid,
                "chat",
                {
                    "gen_ai.request.model": "gpt-4o-mini",
                    "gen_ai.usage.input_tokens": 2000,
                    "gen_ai.usage.output_tokens": 500,
                },
            )
        )
        start_ns = str(int(hours_ago.timestamp() * 1e9))
        end_ns = str(int((hours_ago.timestamp() + 1) * 1e9))
        body["resourceSpans"][0]["scopeSpans"][0]["spans"][0].update(
            startTimeUnixNano=start_ns, endTimeUnixNano=end_ns
        )
        assert (
            client.post(
                "/api/public/otel/v1/traces", json=body, headers=project.headers
            ).status_code
            == 200
        )

        browser = signed_in(client, engine, project, role="viewer")
        expected = 0.25 + (1000 * 2.5 + 100 * 10) * 1e-6 + (2000 * 0.15 + 500 * 0.6) * 1e-6

        def cost_chart_total(range_: str) -> tuple[float, BeautifulSoup]:
            page = soup(browser.get(f"/project/{project.id}/metrics?range={range_}").text)
            canvas = page.select_one("#chart-cost .chart-canvas")
            assert canvas is not None, page.select_one("#chart-cost")
            import json

            payload = json.loads(str(canvas["data-chart"]))
            total = sum(v or 0 for v in payload["series"][0]["values"])
            return total, page

        for range_ in ("24h", "7d"):
            total, page = cost_chart_total(range_)
            assert total == pytest.approx(expected)
            unpriced = page.select_one("[data-metric=unpriced] a")
            assert (
                unpriced is not None
                and unpriced["href"] == f"/project/{project.id}/settings/models"
            )
            assert unpriced.get_text().startswith("1 generation")

        client.post(
            "/api/public/models",
            json={"modelName": "acme", "matchPattern": "^acme-llm-\\d+$", "inputPrice": 1e-5},
            headers=project.headers,
        )
        recompute_costs(engine, project.id, None, None)
        for range_ in ("24h", "7d"):
            total, page = cost_chart_total(range_)
            assert total == pytest.approx(expected + 1000 * 1e-5)
            assert page.select_one("[data-metric=unpriced]") is None


class TestCostByUsageType:
    def test_the_cost_chart_splits_input_output_cache_and_reasoning_on_both_read_paths(
        self, client: TestClient, engine: Engine, project: ProjectKeys
    ) -> None:
        from server.metrics import rollups

        two_hours_ago = datetime.now(UTC) - timedelta(hours=2)

        def at(obs_id: str, model: str, **fields: Any) -> dict[str, Any]:
            return generation_event(
                obs_id, new_id(), start=two_hours_ago, at=two_hours_ago, model=model, **fields
            )

        ingest(
            client,
            project,
            # Anthropic usage: cache reads and writes apart from input.
            at(
                "u-claude",
                "claude-3-5-sonnet-20241022",
                usageDetails={
                    "input_tokens": 1000,
                    "output_tokens": 200,
                    "cache_read_input_tokens": 10_000,
                    "cache_creation_input_tokens": 2_000,
                },
            ),
            # OpenAI Responses usage with reasoning inside the output count.
            at(
                "u-o3",
                "o3-mini",
                usageDetails={
                    "input_tokens": 500,
                    "output_tokens": 900,
                    "output_tokens_details": {"reasoning_tokens": 600},
                    "total_tokens": 1400,
                },
            ),
            # A client cost with no split, and an unpriced generation.
            at("u-sent", "gpt-4o", usageDetails={"input": 10}, costDetails={"total": 0.5}),
            at("u-unknown", "acme-llm-7", usageDetails={"input": 1000}),
        )
        api = {
            obs: client.get(f"/api/public/observations/{obs}", headers=project.headers).json()
            for obs in ("u-claude", "u-o3", "u-sent")
        }
        expected: dict[str, float] = {}
        for found in api.values():
            for key, amount in found["costDetails"].items():
                kind = {
                    "input": "input",
                    "output": "output",
                    "input_cached_tokens": "cached input",
                    "input_cache_creation": "cache write",
                    "output_reasoning_tokens": "reasoning",
                }.get(key)
                if kind is not None:
                    expected[kind] = expected.get(kind, 0.0) + amount
        expected["not split"] = 0.5
        assert set(expected) == {
            "input",
            "output",
            "cached input",
            "cache write",
            "reasoning",
            "not split",
        }
        assert all(amount > 0 for amount in expected.values())
        grand_total = sum(f["calculatedTotalCost"] for f in api.values())
        assert sum(expected.values()) == pytest.approx(grand_total)
        browser = signed_in(client, engine, project, role="viewer")

        def chart(range_: str, chart_id: str) -> dict[str, float]:
            import json

            page = soup(browser.get(f"/project/{project.id}/metrics?range={range_}").text)
            canvas = page.select_one(f"#chart-{chart_id} .chart-canvas")
            assert canvas is not None, page.select_one(f"#chart-{chart_id}")
            payload = json.loads(str(canvas["data-chart"]))
            return {s["label"]: sum(v or 0 for v in s["values"]) for s in payload["series"]}

        def check(range_: str) -> None:
            by_type = chart(range_, "cost-types")
            assert list(by_type) == [
                "Input",
                "Output",
                "Cached input",
                "Cache write",
                "Reasoning",
                "Not split",
            ]
            assert by_type == pytest.approx({k.capitalize(): v for k, v in expected.items()})
            assert sum(by_type.values()) == pytest.approx(chart(range_, "cost")["Total"])

        check("6h")  # plain SQL over the raw rows, 5-minute buckets
        check("7d")  # hourly rollups, that hour still dirty: read raw (then rebuilt)
        rollups.refresh_dirty(engine, datetime.now(UTC))
        m = metric_hours.c
        with engine.connect() as conn:
            hour = rollups.hour_of(two_hours_ago)
            assert not conn.execute(
                select(rollups.dirty_table().c.hour).where(
                    rollups.dirty_table().c.project_id == project.id
                )
            ).all()
            stored = conn.execute(
                select(m.key, m.cost).where(
                    m.project_id == project.id, m.hour == hour, m.dimension == "usage"
                )
            ).all()
        assert dict(stored) == pytest.approx(expected)
        check("7d")  # now from the stored rollups

    def test_a_cost_removed_by_a_recompute_leaves_the_charts_working(
        self, client: TestClient, engine: Engine, project: ProjectKeys
    ) -> None:
        from server.pricing.recompute import recompute_costs

        created = client.post(
            "/api/public/models",
            json={"modelName": "acme", "matchPattern": "^acme-llm-7$", "inputPrice": 1e-6},
            headers=project.headers,
        ).json()
        ingest(client, project, recent("gone", "acme-llm-7", usageDetails={"input": 1000}))
        assert cost_of(client, project, "gone") == pytest.approx(1e-3)
        client.delete(f"/api/public/models/{created['id']}", headers=project.headers)
        recompute_costs(engine, project.id, None, None)
        assert cost_of(client, project, "gone") is None
        browser = signed_in(client, engine, project, role="viewer")
        for range_ in ("6h", "7d"):  # plain SQL, then rollups
            response = browser.get(f"/project/{project.id}/metrics?range={range_}")
            assert response.status_code == 200, response.text
            chart = soup(response.text).select_one("#chart-cost-types")
            assert chart is not None and chart.select_one(".chart-canvas") is None  # no data
