"""Model prices: matching, usage normalisation, the unpriced rule, the models API, and cost at ingest."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from server.ingest.otlp.usage import usage_from
from server.ingest.usage import usage_details
from server.pricing.catalog import ModelPrice, builtin_models, find_price, tiers_of
from server.pricing.cost import compute_cost
from server.pricing.names import normalise_model_name
from server.pricing.tokens import approximate, text_of
from server.pricing.usage_types import cost_by_type, usage_type
from tests.conftest import ProjectKeys
from tests.factories import T0, generation_event, new_id, span_event
from tests.otlp_bodies import export, span, span_id, trace_id

M = 1e-6  # built-in prices are per million tokens


def price(
    name: str,
    pattern: str,
    start: datetime | None = None,
    project: str | None = None,
    **prices: float,
) -> ModelPrice:
    return ModelPrice(
        id=f"{project or 'builtin'}:{name}:{start}",
        model_name=name,
        match_pattern=pattern,
        prices=prices,
        start_date=start,
        project_id=project,
    )


def tiered(*conditions: dict[str, Any]) -> dict[str, Any]:
    """A model body with default prices and one conditional tier."""
    return {
        "modelName": "x",
        "matchPattern": "^x$",
        "pricingTiers": [
            {"isDefault": True, "priority": 0, "conditions": [], "prices": {"input": 1e-6}},
            {
                "name": "big",
                "isDefault": False,
                "priority": 1,
                "conditions": list(conditions),
                "prices": {"input": 2e-6},
            },
        ],
    }


class TestModelNames:
    @pytest.mark.parametrize(
        ("sent", "normal"),
        [
            ("gpt-4o", "gpt-4o"),
            ("openai/gpt-4o-2024-08-06", "gpt-4o"),
            ("GPT-4o-Mini", "gpt-4o-mini"),
            ("azure/gpt-4.1-mini-2025-04-14", "gpt-4.1-mini"),
            ("gpt-3.5-turbo-0125", "gpt-3.5-turbo"),
            ("models/gemini-1.5-pro-002", "gemini-1.5-pro"),
            ("vertex_ai/gemini-2.5-flash-preview-05-20", "gemini-2.5-flash"),
            ("claude-3-5-sonnet-20241022", "claude-3-5-sonnet"),
            ("claude-3-5-sonnet@20240620", "claude-3-5-sonnet"),
            ("anthropic/claude-sonnet-4-5-20250929", "claude-sonnet-4-5"),
            ("us.anthropic.claude-3-5-sonnet-20240620-v1:0", "claude-3-5-sonnet"),
            ("claude-3-5-haiku-latest", "claude-3-5-haiku"),
            ("meta-llama/Llama-3.1-70B-Instruct", "llama-3.1-70b-instruct"),
            ("mistral-large-2407", "mistral-large"),
        ],
    )
    def test_provider_prefixes_and_date_suffixes_are_removed(self, sent: str, normal: str) -> None:
        assert normalise_model_name(sent) == normal

    @pytest.mark.parametrize(
        ("sent", "expected"),
        [
            ("openai/gpt-4o-2024-08-06", "gpt-4o"),
            ("gpt-4o-mini-2024-07-18", "gpt-4o-mini"),
            ("models/gemini-1.5-pro-002", "gemini-1.5-pro"),
            ("us.anthropic.claude-3-5-sonnet-20240620-v1:0", "claude-3-5-sonnet"),
            ("claude-3.5-sonnet", "claude-3-5-sonnet"),
            ("together_ai/meta-llama/Meta-Llama-3.1-70B-Instruct-Turbo", None),
            ("llama-3.1-70b-instruct", "llama-3.1-70b"),
            ("my-finetune", None),
        ],
    )
    def test_every_spelling_finds_the_built_in_price(self, sent: str, expected: str | None) -> None:
        found = find_price(builtin_models(), sent, T0)
        assert (found.model_name if found else None) == expected


class TestMatching:
    def test_the_newest_start_date_in_force_wins(self) -> None:
        old = price("o3", "^o3$", None, input=10 * M)
        cut = price("o3", "^o3$", datetime(2025, 6, 10, tzinfo=UTC), input=2 * M)
        future = price("o3", "^o3$", datetime(2030, 1, 1, tzinfo=UTC), input=1 * M)
        table = [old, cut, future]
        assert find_price(table, "o3", datetime(2025, 5, 1, tzinfo=UTC)) is old
        assert find_price(table, "o3", datetime(2025, 6, 10, tzinfo=UTC)) is cut
        assert find_price(table, "o3", datetime(2026, 1, 1, tzinfo=UTC)) is cut

    def test_the_built_in_o3_price_change_applies_from_its_day(self) -> None:
        before = find_price(builtin_models(), "o3", datetime(2025, 5, 1, tzinfo=UTC))
        after = find_price(builtin_models(), "o3", datetime(2025, 7, 1, tzinfo=UTC))
        assert before is not None and before.prices["input"] == pytest.approx(10 * M)
        assert after is not None and after.prices["input"] == pytest.approx(2 * M)
        assert find_price(builtin_models(), "o3", datetime(2024, 1, 1, tzinfo=UTC)) is None

    def test_a_project_definition_overrides_the_built_in_one_even_if_older(self) -> None:
        builtin = price("gpt-4o", "^gpt-4o$", datetime(2025, 1, 1, tzinfo=UTC), input=2.5 * M)
        mine = price("gpt-4o", "(?i)^(openai/)?gpt-4o$", None, project="p", input=1 * M)
        assert find_price([builtin, mine], "openai/gpt-4o", T0) is mine
        assert find_price([builtin, mine], "gpt-4o-mini", T0) is None

    def test_patterns_are_tried_on_the_name_as_sent_too(self) -> None:
        exact = price("ft", "^ft:gpt-4o-mini:acme:.*$", None, project="p", input=3 * M)
        assert find_price([exact], "ft:gpt-4o-mini:acme:custom:abc123", T0) is exact


class TestUsageNormalisation:
    def test_openai_chat_usage_counts_cached_and_reasoning_tokens_once(self) -> None:
        usage = usage_details(
            {
                "prompt_tokens": 100,
                "completion_tokens": 40,
                "total_tokens": 140,
                "prompt_tokens_details": {"cached_tokens": 30},
                "completion_tokens_details": {"reasoning_tokens": 10},
            }
        )
        assert usage == {
            "input": 70,
            "input_cached_tokens": 30,
            "output": 30,
            "output_reasoning_tokens": 10,
            "total": 140,
        }
        assert sum(v for k, v in usage.items() if k != "total") == usage["total"]

    def test_openai_responses_usage(self) -> None:
        usage = usage_details(
            {
                "input_tokens": 50,
                "output_tokens": 20,
                "total_tokens": 70,
                "input_tokens_details": {"cached_tokens": 40},
                "output_tokens_details": {"reasoning_tokens": 5},
            }
        )
        assert usage == {
            "input": 10,
            "input_cached_tokens": 40,
            "output": 15,
            "output_reasoning_tokens": 5,
            "total": 70,
        }

    def test_anthropic_usage_keeps_cache_tokens_apart_from_input(self) -> None:
        usage = usage_details(
            {
                "input_tokens": 12,
                "output_tokens": 30,
                "cache_creation_input_tokens": 200,
                "cache_read_input_tokens": 1000,
            }
        )
        assert usage == {
            "input": 12,
            "output": 30,
            "input_cache_creation": 200,
            "input_cached_tokens": 1000,
            "total": 1242,
        }

    def test_a_flat_map_with_anthropic_cache_names_keeps_input_and_output(self) -> None:
        usage = usage_details({"input": 120, "output": 30, "cache_read_input_tokens": 7})
        assert usage == {"input": 120, "output": 30, "input_cached_tokens": 7}

    def test_genai_attributes_include_cache_tokens_in_input_and_are_split(self) -> None:
        usage = usage_from(
            {
                "gen_ai.usage.input_tokens": 1200,
                "gen_ai.usage.output_tokens": 50,
                "gen_ai.usage.cache_read.input_tokens": 1000,
                "gen_ai.usage.cache_creation.input_tokens": 150,
            }
        )
        assert usage == {
            "input": 50,
            "output": 50,
            "input_cached_tokens": 1000,
            "input_cache_creation": 150,
            "total": 1250,
        }

    def test_genai_attributes_with_raw_anthropic_numbers_are_not_subtracted_below_zero(
        self,
    ) -> None:
        # Some instrumentations pass Anthropic's counts through unsummed.
        usage = usage_from(
            {
                "gen_ai.usage.input_tokens": 12,
                "gen_ai.usage.output_tokens": 30,
                "gen_ai.usage.cache_read_input_tokens": 1000,
            }
        )
        assert usage["input"] == 12 and usage["input_cached_tokens"] == 1000
        assert usage["total"] == 1042

    def test_openinference_token_counts(self) -> None:
        usage = usage_from(
            {
                "llm.token_count.prompt": 300,
                "llm.token_count.completion": 20,
                "llm.token_count.total": 320,
                "llm.token_count.prompt_details.cache_read": 100,
                "llm.token_count.completion_details.reasoning": 5,
            }
        )
        assert usage == {
            "input": 200,
            "input_cached_tokens": 100,
            "output": 15,
            "output_reasoning_tokens": 5,
            "total": 320,
        }


class TestCost:
    sonnet = price(
        "claude-3-5-sonnet",
        "^claude-3-5-sonnet$",
        input=3 * M,
        output=15 * M,
        input_cached_tokens=0.3 * M,
        input_cache_creation=3.75 * M,
    )

    def test_each_usage_key_is_priced_by_its_own_price(self) -> None:
        usage = {
            "input": 12,
            "output": 30,
            "input_cache_creation": 200,
            "input_cached_tokens": 1000,
            "total": 1242,
        }
        priced = compute_cost(usage, self.sonnet, "claude-3-5-sonnet")
        assert priced.cost is not None and priced.reason is None
        assert priced.cost["input"] == pytest.approx(36 * M)
        assert priced.cost["input_cached_tokens"] == pytest.approx(300 * M)
        assert priced.cost["input_cache_creation"] == pytest.approx(750 * M)
        assert priced.cost["output"] == pytest.approx(450 * M)
        assert priced.cost["total"] == pytest.approx((36 + 300 + 750 + 450) * M)

    def test_a_detail_key_without_its_own_price_is_priced_like_its_side(self) -> None:
        plain = price("gpt-4", "^gpt-4$", input=30 * M, output=60 * M)
        priced = compute_cost(
            {"input": 10, "input_cached_tokens": 5, "output_reasoning_tokens": 2, "total": 17},
            plain,
            "gpt-4",
        )
        assert priced.cost is not None
        assert priced.cost["input_cached_tokens"] == pytest.approx(150 * M)
        assert priced.cost["output_reasoning_tokens"] == pytest.approx(120 * M)

    @pytest.mark.parametrize(
        ("usage", "definition", "model", "reason"),
        [
            ({"input": 5}, None, "my-model", "no price definition matches 'my-model'"),
            ({"input": 5}, None, None, "no model name"),
            ({}, price("m", "^m$", input=M), "m", "no usage"),
            ({"images": 3}, price("m", "^m$", input=M), "m", "m has no price for images"),
        ],
    )
    def test_unpriced_is_none_with_a_reason_never_zero(
        self, usage: dict[str, int], definition: ModelPrice | None, model: str | None, reason: str
    ) -> None:
        priced = compute_cost(usage, definition, model)
        assert priced.cost is None
        assert priced.reason == reason


class TestPricingTiers:
    def long_context(self) -> ModelPrice:
        return ModelPrice(
            id="p:long",
            model_name="long",
            match_pattern="^long$",
            prices={"input": 1 * M, "input_cached_tokens": 0.1 * M, "output": 5 * M},
            project_id="p",
            tiers=tiers_of(
                [
                    {
                        "name": "flex",
                        "priority": 1,
                        "conditions": [
                            {
                                "source": "model_parameters",
                                "key": "service_tier",
                                "operator": "in",
                                "values": ["flex"],
                            }
                        ],
                        "prices": {"input": 0.5 * M, "output": 2.5 * M},
                    },
                    {
                        "name": "over 200k",
                        "priority": 2,
                        # All input keys count toward the threshold, cache reads included.
                        "conditions": [
                            {"usageDetailPattern": "^input", "operator": "gt", "value": 200_000}
                        ],
                        "prices": {"input": 2 * M, "output": 10 * M},
                    },
                ]
            ),
        )

    def test_a_tier_applies_when_all_its_conditions_hold_and_the_first_by_priority_wins(
        self,
    ) -> None:
        model = self.long_context()
        small = {"input": 1000, "output": 100}
        priced = compute_cost(small, model, "long")
        assert priced.tier is None
        assert priced.cost is not None and priced.cost["total"] == pytest.approx(1500 * M)
        # 150k uncached + 60k cached = 210k input tokens: above the threshold.
        big = {"input": 150_000, "input_cached_tokens": 60_000, "output": 1000}
        priced = compute_cost(big, model, "long")
        assert priced.tier is not None and priced.tier.name == "over 200k"
        assert priced.cost is not None
        assert priced.cost["input"] == pytest.approx(300_000 * M)
        # The tier has no cached price: the definition's default one applies, not input's.
        assert priced.cost["input_cached_tokens"] == pytest.approx(6_000 * M)
        assert priced.cost["output"] == pytest.approx(10_000 * M)
        exactly = {"input": 200_000, "output": 1}
        assert compute_cost(exactly, model, "long").tier is None  # gt, not gte
        flex = compute_cost(big, model, "long", {"model_parameters": {"service_tier": "flex"}})
        assert flex.tier is not None and flex.tier.name == "flex"  # priority 1 before 2
        other = compute_cost(big, model, "long", {"model_parameters": {"service_tier": "auto"}})
        assert other.tier is not None and other.tier.name == "over 200k"

    @pytest.mark.parametrize(
        ("model", "input_tokens", "expected_input_price"),
        [
            ("gemini-2.5-pro", 100_000, 1.25),
            ("gemini-2.5-pro", 250_000, 2.5),
            ("claude-sonnet-4-5-20250929", 150_000, 3.0),
            ("claude-sonnet-4-5-20250929", 250_000, 6.0),
        ],
    )
    def test_built_in_long_context_prices(
        self, model: str, input_tokens: int, expected_input_price: float
    ) -> None:
        definition = find_price(builtin_models(), model, T0)
        assert definition is not None
        priced = compute_cost({"input": input_tokens, "output": 10}, definition, model)
        assert priced.cost is not None
        assert priced.cost["input"] == pytest.approx(input_tokens * expected_input_price * M)


class TestUsageTypes:
    @pytest.mark.parametrize(
        ("key", "kind"),
        [
            ("input", "input"),
            ("output", "output"),
            ("input_cached_tokens", "cached input"),
            ("input_cache_read", "cached input"),
            ("cache_read_input_tokens", "cached input"),
            ("input_cache_creation", "cache write"),
            ("cache_creation_input_tokens", "cache write"),
            ("input_cache_write", "cache write"),
            ("output_reasoning_tokens", "reasoning"),
            ("output_reasoning", "reasoning"),
            ("input_audio_tokens", "audio"),
            ("output_audio_tokens", "audio"),
            ("input_image", "images"),
            ("input_text_tokens", "input"),
            ("output_accepted_prediction_tokens", "output"),
            ("requests", "other"),
            ("total", None),
        ],
    )
    def test_every_spelling_of_a_usage_key_has_one_type(self, key: str, kind: str | None) -> None:
        assert usage_type(key) == kind

    def test_types_add_up_to_the_total_and_a_bare_total_is_not_split(self) -> None:
        sonnet = {
            "input": 0.003,
            "input_cached_tokens": 0.0003,
            "input_cache_creation": 0.00375,
            "output": 0.015,
            "total": 0.02205,
        }
        assert cost_by_type(sonnet) == pytest.approx(
            {"input": 0.003, "cached input": 0.0003, "cache write": 0.00375, "output": 0.015}
        )
        assert cost_by_type({"total": 0.25}) == {"not split": 0.25}
        # A client total above its parts: the rest is shown, not dropped.
        assert cost_by_type({"input": 0.1, "total": 0.25}) == pytest.approx(
            {"input": 0.1, "not split": 0.15}
        )
        assert cost_by_type({"input": 0.1, "output": 0.2}) == pytest.approx(
            {"input": 0.1, "output": 0.2}
        )
        assert cost_by_type(None) == {}


class TestTokenEstimate:
    def test_text_is_taken_from_json_values_and_dense_scripts_count_per_character(self) -> None:
        stored = (
            '[{"role": "user", "content": "abcdefgh"}, {"role": "assistant", "content": "東京"}]'
        )
        text = text_of(stored)
        assert "abcdefgh" in text and "東京" in text and "content" not in text
        assert approximate("abcdefgh") == 2
        assert approximate("東京") == 2
        assert approximate("") == 0


# --- end to end -----------------------------------------------------------------------------


def ingest(client: TestClient, project: ProjectKeys, *events: dict[str, Any]) -> None:
    response = client.post(
        "/api/public/ingestion", json={"batch": list(events)}, headers=project.headers
    )
    assert response.status_code == 207 and response.json()["errors"] == [], response.text


def observation(client: TestClient, project: ProjectKeys, obs_id: str) -> dict[str, Any]:
    response = client.get(f"/api/public/observations/{obs_id}", headers=project.headers)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def trace_cost(client: TestClient, project: ProjectKeys, trace: str) -> float | None:
    response = client.get(f"/api/public/traces/{trace}", headers=project.headers)
    assert response.status_code == 200
    value: float | None = response.json()["totalCost"]
    return value


class TestCostAtIngest:
    def test_a_generation_without_cost_is_priced_and_a_client_cost_wins(
        self, client: TestClient, project: ProjectKeys
    ) -> None:
        trace = new_id()
        ingest(
            client,
            project,
            generation_event(
                "priced",
                trace,
                model="openai/gpt-4o-2024-08-06",
                usageDetails={"input": 1000, "output": 100},
            ),
            generation_event(
                "paid",
                trace,
                model="gpt-4o",
                usageDetails={"input": 1000, "output": 100},
                costDetails={"total": 0.5},
            ),
        )
        priced = observation(client, project, "priced")
        assert priced["costSource"] == "computed"
        assert priced["costDetails"]["input"] == pytest.approx(1000 * 2.5 * M)
        assert priced["costDetails"]["output"] == pytest.approx(100 * 10 * M)
        assert priced["calculatedTotalCost"] == pytest.approx(0.0035)
        assert priced["modelId"] == "builtin:gpt-4o"
        paid = observation(client, project, "paid")
        assert paid["costSource"] == "client" and paid["calculatedTotalCost"] == 0.5
        assert trace_cost(client, project, trace) == pytest.approx(0.5035)
        whole = client.get(f"/api/public/traces/{trace}", headers=project.headers).json()
        assert whole["usageDetails"] == {"input": 2000, "output": 200, "total": 2200}
        assert whole["costDetails"]["total"] == pytest.approx(0.5035)
        assert whole["unpricedObservations"] == 0

    def test_an_unknown_model_is_unpriced_not_zero_and_says_why(
        self, client: TestClient, project: ProjectKeys
    ) -> None:
        trace = new_id()
        ingest(
            client,
            project,
            generation_event("mystery", trace, model="acme-llm-7", usageDetails={"input": 10}),
        )
        found = observation(client, project, "mystery")
        assert found["calculatedTotalCost"] is None and found["costDetails"] == {}
        assert found["unpricedReason"] == "no price definition matches 'acme-llm-7'"
        assert trace_cost(client, project, trace) is None
        whole = client.get(f"/api/public/traces/{trace}", headers=project.headers).json()
        assert whole["unpricedObservations"] == 1 and whole["costDetails"] == {}

    def test_a_later_client_cost_replaces_the_computed_one_even_if_its_event_is_older(
        self, client: TestClient, project: ProjectKeys
    ) -> None:
        trace = new_id()
        ingest(
            client,
            project,
            generation_event(
                "g",
                trace,
                at=T0 + timedelta(minutes=5),
                model="gpt-4o-mini",
                usageDetails={"input": 100},
            ),
        )
        assert observation(client, project, "g")["costSource"] == "computed"
        update = generation_event(
            "g", trace, at=T0, model="gpt-4o-mini", costDetails={"total": 0.25}
        )
        update["type"] = "generation-update"
        ingest(client, project, update)
        found = observation(client, project, "g")
        assert found["costSource"] == "client" and found["calculatedTotalCost"] == 0.25

    def test_usage_is_estimated_from_text_when_missing_and_marked(
        self, client: TestClient, project: ProjectKeys
    ) -> None:
        trace = new_id()
        ingest(
            client,
            project,
            generation_event(
                "est",
                trace,
                model="claude-3-5-sonnet-20241022",
                usageDetails=None,
                input=[{"role": "user", "content": "x" * 400}],
                output={"role": "assistant", "content": "y" * 40},
            ),
            generation_event(
                "failed", trace, model="gpt-4o", usageDetails=None, level="ERROR", input="x" * 400
            ),
        )
        found = observation(client, project, "est")
        assert found["usageEstimated"] is True
        assert found["usageDetails"]["input"] >= 100 and found["usageDetails"]["output"] >= 10
        assert found["calculatedTotalCost"] == pytest.approx(
            found["usageDetails"]["input"] * 3 * M + found["usageDetails"]["output"] * 15 * M
        )
        failed = observation(client, project, "failed")
        assert failed["usageEstimated"] is False and failed["calculatedTotalCost"] is None
        assert failed["unpricedReason"] == "no usage"
        # Real usage arriving later replaces the estimate.
        real = generation_event(
            "est", trace, model="claude-3-5-sonnet-20241022", usageDetails={"input": 7, "output": 3}
        )
        real["type"] = "generation-update"
        ingest(client, project, real)
        found = observation(client, project, "est")
        assert found["usageEstimated"] is False
        assert found["usageDetails"] == {"input": 7, "output": 3, "total": 10}
        assert found["calculatedTotalCost"] == pytest.approx(7 * 3 * M + 3 * 15 * M)

    def test_a_span_without_a_model_has_no_cost_and_no_reason(
        self, client: TestClient, project: ProjectKeys
    ) -> None:
        ingest(client, project, span_event("plain", new_id()))
        found = observation(client, project, "plain")
        assert found["calculatedTotalCost"] is None and found["unpricedReason"] is None

    def test_otlp_generations_are_priced_from_genai_usage(
        self, client: TestClient, project: ProjectKeys
    ) -> None:
        tid, sid = trace_id(), span_id()
        body = export(
            span(
                tid,
                sid,
                "chat",
                {
                    "gen_ai.operation.name": "chat",
                    "gen_ai.request.model": "claude-3-5-sonnet-20241022",
                    "gen_ai.usage.input_tokens": 1200,
                    "gen_ai.usage.output_tokens": 50,
                    "gen_ai.usage.cache_read.input_tokens": 1000,
                },
            )
        )
        response = client.post("/api/public/otel/v1/traces", json=body, headers=project.headers)
        assert response.status_code == 200, response.text
        found = observation(client, project, sid)
        assert found["costSource"] == "computed"
        assert found["calculatedTotalCost"] == pytest.approx((200 * 3 + 1000 * 0.3 + 50 * 15) * M)


class TestPricingTiersEndToEnd:
    def test_a_tier_from_the_api_prices_large_generations_and_is_reported(
        self, client: TestClient, project: ProjectKeys
    ) -> None:
        body = tiered({"usageDetailPattern": "^input", "operator": "gte", "value": 1000})
        body.update(modelName="acme-long", matchPattern="^acme-long$")
        created = client.post("/api/public/models", json=body, headers=project.headers)
        assert created.status_code == 200, created.text
        tiers = created.json()["pricingTiers"]
        assert [(t["name"], t["isDefault"], t["priority"]) for t in tiers] == [
            ("Standard", True, 0),
            ("big", False, 1),
        ]
        assert tiers[1]["conditions"][0]["usageDetailPattern"] == "^input"
        assert tiers[1]["prices"] == {"input": 2e-6}
        fetched = client.get(f"/api/public/models/{created.json()['id']}", headers=project.headers)
        assert fetched.json()["pricingTiers"] == tiers
        trace = new_id()
        ingest(
            client,
            project,
            generation_event("small", trace, model="acme-long", usageDetails={"input": 999}),
            generation_event("large", trace, model="acme-long", usageDetails={"input": 1000}),
        )
        small, large = observation(client, project, "small"), observation(client, project, "large")
        assert small["calculatedTotalCost"] == pytest.approx(999e-6)
        assert small["usagePricingTierName"] is None
        assert large["calculatedTotalCost"] == pytest.approx(2000e-6)
        assert large["usagePricingTierName"] == "big"
        v2 = client.get(
            "/api/public/v2/observations",
            params={"traceId": trace, "fields": "core,usage"},
            headers=project.headers,
        ).json()["data"]
        assert {o["id"]: o["usagePricingTierName"] for o in v2} == {"small": None, "large": "big"}
        assert trace_cost(client, project, trace) == pytest.approx(2999e-6)

    def test_an_otlp_span_above_200k_input_gets_the_built_in_long_context_price(
        self, client: TestClient, project: ProjectKeys
    ) -> None:
        tid, sid = trace_id(), span_id()
        body = export(
            span(
                tid,
                sid,
                "chat",
                {
                    "gen_ai.request.model": "gemini-2.5-pro",
                    "gen_ai.usage.input_tokens": 300_000,
                    "gen_ai.usage.output_tokens": 1_000,
                },
            )
        )
        response = client.post("/api/public/otel/v1/traces", json=body, headers=project.headers)
        assert response.status_code == 200, response.text
        found = observation(client, project, sid)
        assert found["usagePricingTierName"] == "Long context (>200k input)"
        assert found["calculatedTotalCost"] == pytest.approx((300_000 * 2.5 + 1_000 * 15) * M)


class TestModelsApi:
    def test_list_starts_with_the_project_s_own_then_the_built_in_ones(
        self, client: TestClient, project: ProjectKeys
    ) -> None:
        created = client.post(
            "/api/public/models",
            json={
                "modelName": "acme-llm",
                "matchPattern": "(?i)^acme-llm(-\\d+)?$",
                "inputPrice": 1e-6,
                "outputPrice": 2e-6,
                "unit": "TOKENS",
            },
            headers=project.headers,
        )
        assert created.status_code == 200, created.text
        model = created.json()
        assert model["isLangfuseManaged"] is False and model["inputPrice"] == 1e-6
        assert model["pricingTiers"][0]["prices"] == {"input": 1e-6, "output": 2e-6}
        listed = client.get("/api/public/models?limit=100", headers=project.headers).json()
        assert listed["data"][0]["id"] == model["id"]
        builtin = [m for m in listed["data"] if m["isLangfuseManaged"]]
        assert {"gpt-4o", "claude-3-5-sonnet", "gemini-1.5-pro"} <= {
            m["modelName"] for m in builtin
        }
        assert listed["meta"]["totalItems"] == len(builtin_models()) + 1
        one = client.get(f"/api/public/models/{model['id']}", headers=project.headers)
        assert one.status_code == 200 and one.json()["modelName"] == "acme-llm"

        trace = new_id()
        ingest(
            client,
            project,
            generation_event(
                "acme", trace, model="acme-llm-7", usageDetails={"input": 10, "output": 5}
            ),
        )
        assert observation(client, project, "acme")["calculatedTotalCost"] == pytest.approx(20e-6)

        assert (
            client.delete(f"/api/public/models/{model['id']}", headers=project.headers).status_code
            == 200
        )
        assert (
            client.get(f"/api/public/models/{model['id']}", headers=project.headers).status_code
            == 404
        )

    def test_a_project_definition_overrides_a_built_in_price_at_ingest(
        self, client: TestClient, project: ProjectKeys
    ) -> None:
        response = client.post(
            "/api/public/models",
            json={
                "modelName": "gpt-4o",
                "matchPattern": "^gpt-4o$",
                "pricingTiers": [
                    {
                        "name": "negotiated",
                        "isDefault": True,
                        "priority": 0,
                        "conditions": [],
                        "prices": {"input": 1e-6, "output": 1e-6},
                    }
                ],
            },
            headers=project.headers,
        )
        assert response.status_code == 200, response.text
        ingest(
            client,
            project,
            generation_event(
                "cheap",
                new_id(),
                model="gpt-4o-2024-11-20",
                usageDetails={"input": 100, "output": 100},
            ),
        )
        found = observation(client, project, "cheap")
        assert found["calculatedTotalCost"] == pytest.approx(200e-6)
        assert found["modelId"] == response.json()["id"]

    @pytest.mark.parametrize(
        ("body", "message"),
        [
            (
                {"modelName": "x", "matchPattern": "(unclosed", "inputPrice": 1e-6},
                "regular expression",
            ),
            ({"modelName": "x", "matchPattern": "^x$"}, "at least one price"),
            ({"modelName": "x", "matchPattern": "^x$", "inputPrice": -1}, "greater than"),
            ({"modelName": "", "matchPattern": "^x$", "inputPrice": 1e-6}, "at least 1"),
            (tiered({"usageDetailPattern": "^input", "operator": "over", "value": 1}), "operator"),
            (
                tiered({"usageDetailPattern": "(input", "operator": "gt", "value": 1}),
                "usage pattern",
            ),
            (
                tiered({"usageDetailPattern": "^input", "operator": "gt", "value": "lots"}),
                "numeric",
            ),
            (tiered({"source": "headers", "key": "k", "operator": "in", "values": []}), "source"),
            (tiered({"foo": "bar"}), "a condition has"),
            (tiered(), "at least one condition"),
        ],
    )
    def test_invalid_definitions_are_400_with_a_message(
        self, client: TestClient, project: ProjectKeys, body: dict[str, Any], message: str
    ) -> None:
        response = client.post("/api/public/models", json=body, headers=project.headers)
        assert response.status_code == 400, response.text
        assert message in str(response.json()), response.json()
        own = client.get("/api/public/models", headers=project.headers).json()["data"]
        assert own[0]["isLangfuseManaged"]  # nothing was saved

    def test_built_in_definitions_cannot_be_deleted(
        self, client: TestClient, project: ProjectKeys
    ) -> None:
        response = client.delete("/api/public/models/builtin:gpt-4o", headers=project.headers)
        assert response.status_code == 400
        assert "override" in response.json()["message"]
        assert (
            client.get("/api/public/models/builtin:gpt-4o", headers=project.headers).status_code
            == 200
        )


class TestRecompute:
    def test_after_a_price_change_the_cli_recomputes_the_range_and_the_trace_totals(
        self, client: TestClient, project: ProjectKeys, settings: Any
    ) -> None:
        from click.testing import CliRunner

        from server.cli import main

        trace, early, late = new_id(), T0 - timedelta(days=3), T0
        ingest(
            client,
            project,
            generation_event(
                "old", trace, start=early, model="acme-9", usageDetails={"input": 100, "output": 10}
            ),
            generation_event(
                "new", trace, start=late, model="acme-9", usageDetails={"input": 100, "output": 10}
            ),
            generation_event(
                "sent",
                trace,
                start=late,
                model="acme-9",
                usageDetails={"input": 100},
                costDetails={"total": 9.0},
            ),
        )
        assert (
            observation(client, project, "new")["unpricedReason"]
            == "no price definition matches 'acme-9'"
        )
        assert trace_cost(client, project, trace) == 9.0

        created = client.post(
            "/api/public/models",
            json={
                "modelName": "acme",
                "matchPattern": "^acme-\\d+$",
                "inputPrice": 1e-3,
                "outputPrice": 2e-3,
            },
            headers=project.headers,
        )
        assert created.status_code == 200
        env = {
            "SPYGLASS_DATABASE_URL": settings.resolved_database_url,
            "SPYGLASS_DATA_DIR": str(settings.data_dir),
        }
        name = client.get("/api/public/projects", headers=project.headers).json()["data"][0]["name"]
        result = CliRunner().invoke(
            main,
            [
                "costs",
                "recompute",
                "--project",
                name,
                "--from",
                (late - timedelta(days=1)).strftime("%Y-%m-%d %H:%M:%S"),
            ],
            env=env,
        )
        assert result.exit_code == 0, result.output
        assert "recomputing 1 observations" in result.output
        assert "1 observations examined, 1 changed; 1 priced, 0 unpriced" in result.output
        assert observation(client, project, "new")["calculatedTotalCost"] == pytest.approx(0.12)
        assert (
            observation(client, project, "old")["calculatedTotalCost"] is None
        )  # outside the range
        assert observation(client, project, "sent")["calculatedTotalCost"] == 9.0  # the client's
        assert trace_cost(client, project, trace) == pytest.approx(9.12)

        everything = CliRunner().invoke(main, ["costs", "recompute", "--project", name], env=env)
        assert everything.exit_code == 0, everything.output
        assert observation(client, project, "old")["calculatedTotalCost"] == pytest.approx(0.12)
        assert trace_cost(client, project, trace) == pytest.approx(9.24)
        nothing = CliRunner().invoke(main, ["costs", "recompute", "--project", "no-such"], env=env)
        assert nothing.exit_code != 0 and "no project named" in nothing.output
