from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from server.deps import SessionDep, StateDep
from server.errors import ApiError, BadRequest, NotFound
from server.pagination import Limit, Page, page_meta
from server.pricing import service
from server.pricing.catalog import ModelPrice
from server.pricing.schemas import ModelCreate
from server.projects.auth import ProjectDep
from server.responses import ApiResponse

router = APIRouter(prefix="/api/public/models", tags=["models"])


def model_view(model: ModelPrice) -> dict[str, Any]:
    prices = model.prices
    return {
        "id": model.id,
        "projectId": model.project_id,
        "modelName": model.model_name,
        "matchPattern": model.match_pattern,
        "startDate": model.start_date,
        "unit": model.unit,
        "inputPrice": prices.get("input"),
        "outputPrice": prices.get("output"),
        "totalPrice": prices.get("total"),
        "tokenizerId": model.tokenizer,
        "tokenizerConfig": None,
        "isLangfuseManaged": model.builtin,
        "createdAt": model.created_at,
        "priceTakenAt": model.taken,
        "prices": {key: {"price": value} for key, value in prices.items()},
        "pricingTiers": [
            {
                "id": f"{model.id}:default",
                "name": "Standard",
                "isDefault": True,
                "priority": 0,
                "conditions": [],
                "prices": dict(prices),
            },
            *(
                {"id": f"{model.id}:{tier.priority}", "isDefault": False, **tier.as_json()}
                for tier in model.tiers
            ),
        ],
    }


@router.get("", summary="Model price definitions: the project's own, then the built-in ones")
def list_models(
    session: SessionDep, principal: ProjectDep, page: Page = 1, limit: Limit = 50
) -> dict[str, Any]:
    models = service.all_definitions(session, principal.project_id)
    return {
        "data": [model_view(m) for m in models[(page - 1) * limit : page * limit]],
        "meta": page_meta(page, limit, len(models)),
    }


@router.post("", status_code=200, summary="Add a model price definition to the project")
def create_model(
    parsed: ModelCreate, session: SessionDep, state: StateDep, principal: ProjectDep
) -> Any:
    try:
        prices = parsed.prices()
        tiers = parsed.tiers()
        created = service.create_definition(
            session,
            principal.project_id,
            model_name=parsed.modelName,
            match_pattern=parsed.matchPattern,
            prices=prices,
            start_date=parsed.startDate,
            unit=parsed.unit,
            tokenizer=parsed.tokenizerId,
            tiers=tiers,
        )
    except ValueError as exc:
        raise BadRequest([{"msg": str(exc)}], str(exc)) from None
    session.commit()
    state.writer.prices.invalidate(principal.project_id)
    return ApiResponse(model_view(created))


@router.get("/{model_id}", summary="One model price definition")
def get_model(model_id: str, session: SessionDep, principal: ProjectDep) -> dict[str, Any]:
    found = service.get_definition(session, principal.project_id, model_id)
    if found is None:
        raise NotFound("Model not found")
    return model_view(found)


@router.delete("/{model_id}", summary="Delete one of the project's model price definitions")
def delete_model(
    model_id: str, session: SessionDep, state: StateDep, principal: ProjectDep
) -> dict[str, Any]:
    found = service.get_definition(session, principal.project_id, model_id)
    if found is None:
        raise NotFound("Model not found")
    if found.builtin:
        raise ApiError(
            "Built-in model definitions cannot be deleted; add a project definition with the "
            "same model name and pattern to override it.",
            status=400,
        )
    service.delete_definition(session, principal.project_id, model_id)
    session.commit()
    state.writer.prices.invalidate(principal.project_id)
    return {"message": "Model successfully deleted"}
