"""The trace detail page: tree, waterfall, detail panel, lazy loading, annotation, escaping."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import quote

import pytest
from bs4 import BeautifulSoup, Tag
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session

from server.db.models import Observation, User
from tests.conftest import ProjectKeys
from tests.dashboard import DashboardClient, signed_in
from tests.factories import T0, generation_event, iso, new_id, score_event, span_event, trace_event
from web.pages.trace_detail import WINDOW_ROWS


def ingest(client: TestClient, project: ProjectKeys, events: list[dict[str, Any]]) -> None:
    for start in range(0, len(events), 200):
        batch = events[start : start + 200]
        response = client.post(
            "/api/public/ingestion", json={"batch": batch}, headers=project.headers
        )
        assert response.status_code == 207, response.text
        assert response.json()["errors"] == [], response.text


def soup(response: Any) -> BeautifulSoup:
    return BeautifulSoup(response.text, "html.parser")


def get_page(browser: DashboardClient, url: str) -> BeautifulSoup:
    response = browser.get(url)
    assert response.status_code == 200, response.text
    return soup(response)


def node_rows(doc: BeautifulSoup | Tag) -> list[Tag]:
    return [r for r in doc.select(".tree-row") if "trace-row" not in (r.get("class") or [])]


def one(doc: BeautifulSoup | Tag, selector: str) -> Tag:
    found = doc.select_one(selector)
    assert found is not None, f"nothing matches {selector!r}"
    return found


def trace_url(project: ProjectKeys, trace_id: str) -> str:
    return f"/project/{project.id}/traces/{quote(trace_id, safe='/')}"


@pytest.fixture
def browser(client: TestClient, engine: Engine, project: ProjectKeys) -> DashboardClient:
    return signed_in(client, engine, project, role="member")


def nested_trace(trace_id: str) -> list[dict[str, Any]]:
    """root(0–10 s) → [llm(1–3 s), step(4–9 s) → [note(5 s, instant)]], and an orphan at 6 s."""
    at = T0
    return [
        trace_event(trace_id, name="nested", userId="u-1", sessionId="s-1", tags=["b", "a"]),
        span_event("root", trace_id, name="root", start=at, seconds=10),
        generation_event(
            "llm",
            trace_id,
            model="in-house-model",  # no price known, no cost sent
            parentObservationId="root",
            start=at + timedelta(seconds=1),
            seconds=2,
        ),
        span_event(
            "step",
            trace_id,
            name="step",
            parentObservationId="root",
            start=at + timedelta(seconds=4),
            seconds=5,
        ),
        span_event(
            "note",
            trace_id,
            type_="event-create",
            name="note",
            parentObservationId="step",
            start=at + timedelta(seconds=5),
            seconds=0,
        ),
        span_event(
            "lost",
            trace_id,
            name="lost",
            parentObservationId="nowhere",
            start=at + timedelta(seconds=6),
            seconds=1,
        ),
    ]


class TestTheTree:
    def test_parents_come_before_children_with_their_depth(
        self, client: TestClient, project: ProjectKeys, browser: DashboardClient
    ) -> None:
        trace_id = new_id()
        ingest(client, project, nested_trace(trace_id))
        doc = get_page(browser, trace_url(project, trace_id))
        rows = node_rows(one(doc, "#tree"))
        assert [r["data-node-id"] for r in rows] == ["root", "llm", "step", "note", "lost"]
        assert [r["data-depth"] for r in rows] == ["0", "1", "1", "2", "0"]
        assert "depth-2" in rows[3]["class"]
        assert rows[3]["aria-level"] == "3"
        assert one(rows[1], ".type-badge").get_text(strip=True) == "GENERATION"
        assert one(rows[1], ".model").get_text(strip=True) == "in-house-model"
        assert "orphan" in rows[4].get_text()
        assert one(doc, "[data-stat=observations] dd").get_text(strip=True) == "5"
        assert not doc.select(".tree-more")

    def test_the_header_links_user_and_session_and_shows_totals(
        self, client: TestClient, project: ProjectKeys, browser: DashboardClient
    ) -> None:
        trace_id = new_id()
        events = nested_trace(trace_id)
        events.append(score_event(new_id(), trace_id=trace_id, name="quality", value=0.75))
        ingest(client, project, events)
        doc = get_page(browser, trace_url(project, trace_id))
        assert one(doc, "#trace-name").get_text(strip=True) == "nested"
        assert one(doc, "#trace-user")["href"] == f"/project/{project.id}/users/u-1"
        assert one(doc, "#trace-session")["href"] == f"/project/{project.id}/sessions/s-1"
        assert [t.get_text() for t in doc.select(".tags .tag")] == ["a", "b"]
        assert one(doc, "[data-stat=latency] dd").get_text(strip=True) == "10.00 s"
        assert one(doc, "[data-stat=tokens] dd").get_text(strip=True) == "120 / 30"
        # No observation has a cost: unknown, not $0.
        assert one(doc, "[data-stat=cost] dd").get_text(strip=True) == "—"
        assert "quality" in one(doc, "#trace-scores").get_text()
        assert "0.75" in one(doc, "#trace-scores").get_text()

    def test_an_error_observation_is_marked_and_counted(
        self, client: TestClient, project: ProjectKeys, browser: DashboardClient
    ) -> None:
        trace_id = new_id()
        ingest(
            client,
            project,
            [
                trace_event(trace_id, name="t"),
                span_event("bad", trace_id, level="ERROR", statusMessage="boom"),
                span_event("meh", trace_id, level="WARNING", start=T0 + timedelta(seconds=1)),
            ],
        )
        doc = get_page(browser, trace_url(project, trace_id))
        bad, meh = node_rows(doc)
        assert "is-error" in bad["class"] and one(bad, ".mark.bad")
        assert "is-warning" in meh["class"] and one(meh, ".mark.warn")
        assert one(doc, "[data-stat=errors] dd").get_text(strip=True) == "1"

    def test_a_trace_without_observations_shows_only_itself(
        self, client: TestClient, project: ProjectKeys, browser: DashboardClient
    ) -> None:
        trace_id = new_id()
        ingest(client, project, [trace_event(trace_id, name="bare")])
        doc = get_page(browser, trace_url(project, trace_id))
        assert node_rows(doc) == [] and len(doc.select(".tree-row.trace-row")) == 1
        assert one(doc, "[data-stat=latency] dd").get_text(strip=True) == "—"
        assert one(doc, "[data-stat=observations] dd").get_text(strip=True) == "0"
        assert doc.select(".axis .tick") == []

    def test_a_trace_id_that_ends_like_a_sub_route_still_opens(
        self, client: TestClient, project: ProjectKeys, browser: DashboardClient
    ) -> None:
        trace_id = f"{new_id()}/children"
        ingest(client, project, [trace_event(trace_id, name="odd"), span_event("s", trace_id)])
        doc = get_page(browser, trace_url(project, trace_id))
        assert one(doc, "#trace-name").get_text(strip=True) == "odd"
        assert [r["data-node-id"] for r in node_rows(doc)] == ["s"]

    def test_ids_with_slashes_work_in_links_and_routes(
        self, client: TestClient, project: ProjectKeys, browser: DashboardClient
    ) -> None:
        trace_id = f"team/{new_id()}/run"
        ingest(
            client,
            project,
            [trace_event(trace_id, name="slashed"), generation_event("a/b", trace_id)],
        )
        doc = get_page(browser, trace_url(project, trace_id))
        (row,) = node_rows(doc)
        link = one(row, "a.node-link")
        panel = browser.htmx("GET", str(link["hx-get"]))
        assert panel.status_code == 200
        assert one(soup(panel), ".panel-body")["data-selected-id"] == "a/b"
        deep = get_page(browser, str(link["href"]))
        assert one(deep, ".panel-body")["data-selected-id"] == "a/b"


class TestTheWaterfall:
    def test_bars_are_placed_on_the_trace_span(
        self, client: TestClient, project: ProjectKeys, browser: DashboardClient
    ) -> None:
        trace_id = new_id()
        ingest(
            client,
            project,
            [
                trace_event(trace_id, name="three"),
                span_event("a", trace_id, start=T0, seconds=10),
                span_event(
                    "b",
                    trace_id,
                    parentObservationId="a",
                    start=T0 + timedelta(seconds=2),
                    seconds=2,
                ),
                generation_event(
                    "c",
                    trace_id,
                    parentObservationId="a",
                    start=T0 + timedelta(seconds=5),
                    seconds=5,
                    completionStartTime=iso(T0 + timedelta(seconds=6)),
                ),
            ],
        )
        doc = get_page(browser, trace_url(project, trace_id))
        bars = {r["data-node-id"]: one(r, ".bar") for r in node_rows(doc)}
        geometry = {
            k: (float(str(b["data-offset"])), float(str(b["data-width"]))) for k, b in bars.items()
        }
        assert geometry == {"a": (0.0, 100.0), "b": (20.0, 20.0), "c": (50.0, 50.0)}
        assert bars["b"]["style"] == "left:20.000%;width:20.000%"
        ttft = one(doc, '[data-node-id="c"] .ttft')
        assert float(str(ttft["data-ttft"])) == pytest.approx(60.0)
        assert not doc.select('[data-node-id="b"] .ttft')
        ticks = [t.get_text() for t in doc.select(".axis .tick")]
        assert ticks == ["0", "2.5s", "5s", "7.5s", "10s"]


class TestTheDetailPanel:
    def generation_trace(self, trace_id: str) -> list[dict[str, Any]]:
        return [
            trace_event(trace_id, name="chat", input={"question": "hi"}, output="plain answer"),
            generation_event(
                "gen",
                trace_id,
                start=T0,
                seconds=2,
                completionStartTime=iso(T0 + timedelta(milliseconds=250)),
                usageDetails={"input": 120, "output": 30, "cache_read_input_tokens": 7},
                costDetails={"input": 0.001, "output": 0.002},
                modelParameters={"temperature": 0.2, "stop": ["\n"]},
                level="WARNING",
                statusMessage="rate limited once",
                promptName="greeter",
                promptVersion=3,
                metadata={"team": "search"},
                input=[
                    {"role": "system", "content": "Be brief."},
                    {"role": "user", "content": [{"type": "text", "text": "Weather?"}]},
                ],
                output={
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "call_1",
                            "type": "function",
                            "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                        }
                    ],
                },
            ),
            score_event(
                new_id(), trace_id=trace_id, observationId="gen", name="relevance", value=1
            ),
        ]

    def test_the_deep_link_shows_model_usage_cost_ttft_and_status(
        self, client: TestClient, engine: Engine, project: ProjectKeys, browser: DashboardClient
    ) -> None:
        trace_id = new_id()
        ingest(client, project, self.generation_trace(trace_id))
        doc = get_page(browser, f"{trace_url(project, trace_id)}?observation=gen")
        panel = one(doc, "#panel .panel-body")
        assert panel["data-panel-kind"] == "observation"
        assert one(panel, "[data-fact=model]").get_text(strip=True) == "gpt-4o-mini"
        assert one(panel, "[data-fact=ttft]").get_text(strip=True) == "250 ms"
        assert one(panel, "[data-fact=duration]").get_text(strip=True) == "2.00 s"
        assert one(panel, "[data-fact=cost]").get_text(strip=True) == "$0.003"
        assert "greeter" in one(panel, "[data-fact=prompt]").get_text()
        usage = {
            one(tr, "th").get_text(): one(tr, "td").get_text()
            for tr in panel.select("#panel-usage tr")
        }
        # Every stored key, whatever names ingestion normalised them to.
        with Session(engine) as session:
            stored = session.scalar(
                select(Observation.usage_details).where(
                    Observation.project_id == project.id, Observation.id == "gen"
                )
            )
        assert stored
        assert usage == {key: f"{value:,}" for key, value in stored.items()}
        assert len(panel.select("#panel-cost tr")) == 2
        assert "temperature" in one(panel, "#panel-params").get_text()
        status = one(panel, "#panel-status")
        assert "warning" in status["class"] and "rate limited once" in status.get_text()
        assert "search" in one(panel, "#panel-metadata").get_text()
        assert [r["data-score-name"] for r in panel.select("#panel-scores tbody tr")] == [
            "relevance"
        ]
        selected = doc.select(".tree-row.selected")
        assert [r["data-node-id"] for r in selected] == ["gen"]

    def test_chat_messages_render_as_turns_with_roles_and_tool_calls(
        self, client: TestClient, project: ProjectKeys, browser: DashboardClient
    ) -> None:
        trace_id = new_id()
        ingest(client, project, self.generation_trace(trace_id))
        doc = get_page(browser, f"{trace_url(project, trace_id)}/observations/gen")
        turns = doc.select(".io-input .chat .turn")
        assert [one(t, ".role").get_text(strip=True) for t in turns] == ["system", "user"]
        assert "role-user" in turns[1]["class"]
        assert one(turns[1], "pre").get_text() == "Weather?"
        (reply,) = doc.select(".io-output .turn")
        assert "role-assistant" in reply["class"]
        call = one(reply, ".tool-call")
        assert one(call, "code").get_text() == "get_weather"
        assert '"city": "Paris"' in one(call, "pre").get_text()

    def test_the_trace_panel_shows_trace_input_and_output(
        self, client: TestClient, project: ProjectKeys, browser: DashboardClient
    ) -> None:
        trace_id = new_id()
        ingest(client, project, self.generation_trace(trace_id))
        doc = get_page(browser, trace_url(project, trace_id))
        panel = one(doc, "#panel .panel-body")
        assert panel["data-panel-kind"] == "trace"
        assert one(doc, "[data-stat=cost] dd").get_text(strip=True) == "$0.003"
        assert '"question": "hi"' in one(panel, ".io-input details.json pre").get_text()
        assert one(panel, ".io-output .part.text pre").get_text() == "plain answer"
        assert "trace-row" in one(doc, ".tree-row.selected")["class"]

    def test_an_htmx_request_gets_only_the_panel(
        self, client: TestClient, project: ProjectKeys, browser: DashboardClient
    ) -> None:
        trace_id = new_id()
        ingest(client, project, self.generation_trace(trace_id))
        for url in (
            f"{trace_url(project, trace_id)}/observations/gen",
            f"{trace_url(project, trace_id)}?observation=gen",
        ):
            response = browser.htmx("GET", url)
            assert response.status_code == 200
            assert "<html" not in response.text and 'id="tree"' not in response.text
            assert one(soup(response), ".panel-body")["data-selected-id"] == "gen"

    def test_a_history_restore_gets_the_whole_page(
        self, client: TestClient, project: ProjectKeys, browser: DashboardClient
    ) -> None:
        trace_id = new_id()
        ingest(client, project, self.generation_trace(trace_id))
        response = browser.htmx(
            "GET",
            f"{trace_url(project, trace_id)}?observation=gen",
            headers={"HX-History-Restore-Request": "true"},
        )
        assert response.status_code == 200
        assert soup(response).select_one("#tree") is not None

    def test_input_that_is_not_json_is_shown_as_text(
        self, client: TestClient, engine: Engine, project: ProjectKeys, browser: DashboardClient
    ) -> None:
        trace_id = new_id()
        obs_id = new_id()
        ingest(
            client, project, [trace_event(trace_id), span_event(obs_id, trace_id, input={"a": 1})]
        )
        with Session(engine) as session:
            session.execute(
                update(Observation)
                .where(Observation.project_id == project.id, Observation.id == obs_id)
                .values(input="{not json <b>")
            )
            session.commit()
        doc = get_page(browser, f"{trace_url(project, trace_id)}?observation={obs_id}")
        part = one(doc, ".io-input .part.text pre")
        assert part.get_text() == "{not json <b>"
        assert not doc.select(".io-input b")

    def test_long_text_is_folded(
        self, client: TestClient, project: ProjectKeys, browser: DashboardClient
    ) -> None:
        trace_id = new_id()
        text = "".join(f"line {i}\n" for i in range(1000))
        ingest(client, project, [trace_event(trace_id, input=text)])
        doc = get_page(browser, trace_url(project, trace_id))
        part = one(doc, ".io-input .part.text")
        head = part.find("pre", recursive=False)
        assert isinstance(head, Tag) and len(head.get_text()) == 1500
        fold = one(part, "details.fold")
        assert head.get_text() + one(fold, "pre").get_text() == text

    def test_an_observation_of_another_trace_is_404(
        self, client: TestClient, project: ProjectKeys, browser: DashboardClient
    ) -> None:
        first, second = new_id(), new_id()
        ingest(
            client,
            project,
            [trace_event(first), trace_event(second), span_event("elsewhere", second)],
        )
        response = browser.get(f"{trace_url(project, first)}/observations/elsewhere")
        assert response.status_code == 404
        # Through the query string the page still opens, on the trace, with a notice.
        doc = get_page(browser, f"{trace_url(project, first)}?observation=elsewhere")
        assert one(doc, ".panel-body")["data-panel-kind"] == "trace"
        assert one(doc, ".panel-body .notice")


class TestLargeTraces:
    def test_700_observations_render_a_bounded_window_and_load_the_rest_on_demand(
        self, client: TestClient, project: ProjectKeys, browser: DashboardClient
    ) -> None:
        trace_id = new_id()
        events = [trace_event(trace_id, name="big"), span_event("root", trace_id, seconds=700)]
        events += [
            span_event(
                f"n{i:03d}", trace_id, parentObservationId="root", start=T0 + timedelta(seconds=i)
            )
            for i in range(699)
        ]
        ingest(client, project, events)
        doc = get_page(browser, trace_url(project, trace_id))
        rows = node_rows(doc)
        assert len(rows) == WINDOW_ROWS
        assert [r["data-node-id"] for r in rows[:3]] == ["root", "n000", "n001"]
        seen = [r["data-node-id"] for r in rows]
        more: Tag | None = one(doc, ".tree-more button")
        assert more is not None and more["data-remaining"] == str(699 - (WINDOW_ROWS - 1))
        while more is not None:
            response = browser.htmx("GET", str(more["hx-get"]))
            assert response.status_code == 200
            assert "<html" not in response.text
            fragment = soup(response)
            batch = node_rows(fragment)
            assert 0 < len(batch) <= WINDOW_ROWS
            assert {r["data-depth"] for r in batch} == {"1"}
            seen += [r["data-node-id"] for r in batch]
            more = fragment.select_one(".tree-more button")
        assert seen == ["root"] + [f"n{i:03d}" for i in range(699)]

    def test_children_opened_directly_redirect_to_the_page(
        self, client: TestClient, project: ProjectKeys, browser: DashboardClient
    ) -> None:
        trace_id = new_id()
        ingest(client, project, [trace_event(trace_id), span_event("only", trace_id)])
        response = browser.get(f"{trace_url(project, trace_id)}/children?parent=only")
        assert response.status_code == 303
        assert response.headers["location"].endswith("?observation=only")

    def test_a_selected_node_deep_in_a_large_tree_is_revealed(
        self, client: TestClient, project: ProjectKeys, browser: DashboardClient
    ) -> None:
        trace_id = new_id()
        events = [trace_event(trace_id)]
        parent = None
        for i in range(8):  # a chain deeper than the depth budget
            fields: dict[str, Any] = {"parentObservationId": parent} if parent else {}
            events.append(span_event(f"c{i}", trace_id, start=T0 + timedelta(seconds=i), **fields))
            parent = f"c{i}"
        later = T0 + timedelta(seconds=10)
        events += [
            span_event(f"x{i:03d}", trace_id, parentObservationId="c0", start=later)
            for i in range(320)
        ]
        ingest(client, project, events)
        doc = get_page(browser, f"{trace_url(project, trace_id)}?observation=c7")
        ids = [r["data-node-id"] for r in node_rows(doc)]
        assert ids[:8] == [f"c{i}" for i in range(8)]
        assert [r["data-node-id"] for r in doc.select(".tree-row.selected")] == ["c7"]


class TestAnnotation:
    def user_id(self, engine: Engine, email: str) -> str:
        with Session(engine) as session:
            found = session.scalar(select(User.id).where(User.email == email))
            assert found is not None
            return found

    def test_a_member_adds_a_score_that_the_api_lists_as_an_annotation(
        self,
        client: TestClient,
        engine: Engine,
        project: ProjectKeys,
        browser: DashboardClient,
    ) -> None:
        trace_id = new_id()
        ingest(client, project, [trace_event(trace_id), generation_event("gen", trace_id)])
        url = f"{trace_url(project, trace_id)}/scores"
        response = browser.htmx(
            "POST",
            url,
            data={
                "observation": "gen",
                "name": "helpful",
                "data_type": "NUMERIC",
                "value": "0.8",
                "comment": "good",
            },
        )
        assert response.status_code == 200, response.text
        panel = soup(response)
        row = one(panel, '#panel-scores tr[data-score-name="helpful"]')
        assert "0.8" in row.get_text() and "ANNOTATION" in row.get_text()
        assert one(panel, "#annotate-form .notice")
        listed = client.get(
            "/api/public/v3/scores",
            params={"traceId": trace_id, "fields": "details,annotation"},
            headers=project.headers,
        ).json()["data"]
        assert len(listed) == 1
        score = listed[0]
        assert score["source"] == "ANNOTATION"
        assert score["observationId"] == "gen"
        assert score["value"] == 0.8 and score["comment"] == "good"
        assert score["authorUserId"] == self.user_id(engine, browser.email)

    def test_boolean_and_categorical_scores_on_the_trace(
        self, client: TestClient, project: ProjectKeys, browser: DashboardClient
    ) -> None:
        trace_id = new_id()
        ingest(client, project, [trace_event(trace_id)])
        url = f"{trace_url(project, trace_id)}/scores"
        for data_type, value in (("BOOLEAN", "true"), ("CATEGORICAL", "great")):
            response = browser.htmx(
                "POST",
                url,
                data={"name": data_type.lower(), "data_type": data_type, "value": value},
            )
            assert response.status_code == 200, response.text
        listed = client.get(
            "/api/public/v3/scores", params={"traceId": trace_id}, headers=project.headers
        ).json()["data"]
        values = {s["name"]: (s["value"], s["observationId"]) for s in listed}
        assert values == {"boolean": (True, None), "categorical": ("great", None)}

    def test_a_plain_form_post_redirects_to_the_deep_link(
        self, client: TestClient, project: ProjectKeys, browser: DashboardClient
    ) -> None:
        trace_id = new_id()
        ingest(client, project, [trace_event(trace_id), span_event("s", trace_id)])
        response = browser.form(
            f"{trace_url(project, trace_id)}/scores",
            {"observation": "s", "name": "ok", "data_type": "BOOLEAN", "value": "0"},
        )
        assert response.status_code == 303
        doc = get_page(browser, response.headers["location"])
        assert one(doc, '#panel-scores tr[data-score-name="ok"]')

    @pytest.mark.parametrize(
        ("data_type", "value", "message"),
        [
            ("NUMERIC", "lots", "number"),
            ("NUMERIC", "nan", "finite"),
            ("BOOLEAN", "maybe", "true or false"),
            ("CATEGORICAL", "  ", "category"),
            ("TEXT", "x", "data type"),
        ],
    )
    def test_an_invalid_value_is_refused_with_a_message(
        self,
        client: TestClient,
        project: ProjectKeys,
        browser: DashboardClient,
        data_type: str,
        value: str,
        message: str,
    ) -> None:
        trace_id = new_id()
        ingest(client, project, [trace_event(trace_id)])
        response = browser.htmx(
            "POST",
            f"{trace_url(project, trace_id)}/scores",
            data={"name": "q", "data_type": data_type, "value": value},
        )
        assert response.status_code == 400
        form = one(soup(response), "#annotate-form")
        assert message in one(form, ".error").get_text()
        assert one(form, "input[name=value]")["value"] == value
        listed = client.get(
            "/api/public/v3/scores", params={"traceId": trace_id}, headers=project.headers
        ).json()["data"]
        assert listed == []

    def test_a_missing_name_is_refused(
        self, client: TestClient, project: ProjectKeys, browser: DashboardClient
    ) -> None:
        trace_id = new_id()
        ingest(client, project, [trace_event(trace_id)])
        response = browser.htmx(
            "POST", f"{trace_url(project, trace_id)}/scores", data={"name": " ", "value": "1"}
        )
        assert response.status_code == 400
        assert "name" in one(soup(response), "#annotate-form .error").get_text()

    def test_a_viewer_sees_no_form_and_cannot_post(
        self, client: TestClient, engine: Engine, project: ProjectKeys
    ) -> None:
        viewer = signed_in(client, engine, project, role="viewer")
        trace_id = new_id()
        ingest(client, project, [trace_event(trace_id)])
        doc = get_page(viewer, trace_url(project, trace_id))
        assert doc.select_one("#annotate-form") is None
        response = viewer.form(
            f"{trace_url(project, trace_id)}/scores", {"name": "q", "value": "1"}
        )
        assert response.status_code == 403
        listed = client.get(
            "/api/public/v3/scores", params={"traceId": trace_id}, headers=project.headers
        ).json()["data"]
        assert listed == []


class TestMissingTraces:
    def test_an_unknown_trace_is_a_404_page(
        self, project: ProjectKeys, browser: DashboardClient
    ) -> None:
        response = browser.get(trace_url(project, "does-not-exist"))
        assert response.status_code == 404
        assert response.headers["content-type"].startswith("text/html")
        assert one(soup(response), "h1").get_text(strip=True) == "No such trace"

    def test_a_trace_of_another_project_is_a_404(
        self,
        client: TestClient,
        project: ProjectKeys,
        other_project: ProjectKeys,
        browser: DashboardClient,
    ) -> None:
        trace_id = new_id()
        ingest(client, other_project, [trace_event(trace_id), span_event("s", trace_id)])
        for url in (
            trace_url(project, trace_id),
            f"{trace_url(project, trace_id)}/observations/s",
        ):
            assert browser.get(url).status_code == 404
        assert browser.htmx("GET", f"{trace_url(project, trace_id)}/children").status_code == 404
        response = browser.htmx(
            "POST", f"{trace_url(project, trace_id)}/scores", data={"name": "q", "value": "1"}
        )
        assert response.status_code == 404
        # And the other project's own page is not open to this member at all.
        assert browser.get(trace_url(other_project, trace_id)).status_code == 403


class TestHostileText:
    SCRIPT = "<script>alert(1)</script>"
    IMG = '<img src=x onerror="alert(2)">'

    def test_stored_markup_comes_back_escaped_everywhere(
        self, client: TestClient, project: ProjectKeys, browser: DashboardClient
    ) -> None:
        hostile = f"{self.SCRIPT}{self.IMG}"
        trace_id = new_id()
        ingest(
            client,
            project,
            [
                trace_event(
                    trace_id,
                    name=hostile,
                    userId=hostile,
                    sessionId=hostile,
                    release=hostile,
                    tags=[hostile],
                    metadata={hostile: hostile},
                    input=hostile,
                    output={"role": "assistant", "content": hostile},
                ),
                generation_event(
                    "gen",
                    trace_id,
                    name=hostile,
                    model=hostile,
                    level="ERROR",
                    statusMessage=hostile,
                    metadata={"k": hostile},
                    input=[{"role": "user", "content": hostile, "name": hostile}],
                    output=hostile,
                    modelParameters={hostile: hostile},
                ),
                score_event(new_id(), trace_id=trace_id, name=hostile, comment=hostile),
                score_event(
                    new_id(),
                    trace_id=trace_id,
                    observationId="gen",
                    name=hostile,
                    comment=hostile,
                    value="cat",
                    dataType="CATEGORICAL",
                ),
            ],
        )
        for url in (
            trace_url(project, trace_id),
            f"{trace_url(project, trace_id)}?observation=gen",
        ):
            response = browser.get(url)
            assert response.status_code == 200
            doc = soup(response)
            assert doc.find_all("img") == []
            assert all(s.get("src") for s in doc.find_all("script")), "an inline script got in"
            assert "<script>alert" not in response.text
            assert "&lt;script&gt;alert(1)&lt;/script&gt;" in response.text
            assert hostile in one(doc, "#panel").get_text()
        panel = browser.htmx("GET", f"{trace_url(project, trace_id)}/observations/gen")
        assert "<script>alert" not in panel.text and "<img" not in panel.text
