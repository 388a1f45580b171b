"""Issue 13, part 3: the catalogue as the upstream LiteMaaS web UI reads it (ModelsPage, the
API key dialog's model picker and the usage page's model filter)."""

from __future__ import annotations

from app.extensions import db

MODELS = "/api/v1/models"


def sync(app, sim, count: int) -> None:
    from app.services.model_sync import ModelSyncService

    sim.configure(models=count)
    with app.app_context():
        assert ModelSyncService().sync("manual").total == count
        db.session.remove()


def test_the_key_dialog_gets_the_whole_catalogue_with_limit_1000(app, client, sim):
    sync(app, sim, 1005)
    first = client.get(f"{MODELS}?page=1&limit=1000")
    assert first.status_code == 200, first.get_json()
    body = first.get_json()
    assert len(body["data"]) == 1000
    assert body["pagination"] == {"page": 1, "limit": 1000, "total": 1005, "totalPages": 2}
    rest = client.get(f"{MODELS}?page=2&limit=1000").get_json()
    assert len(rest["data"]) == 5
    assert not {m["id"] for m in rest["data"]} & {m["id"] for m in body["data"]}
    assert client.get(f"{MODELS}?limit=1001").status_code == 400


def test_list_items_carry_every_field_the_models_page_reads(app, client, sim):
    sync(app, sim, 12)
    items = client.get(f"{MODELS}?limit=100").get_json()["data"]
    item = next(m for m in items if m["inputCostPerToken"] is not None)
    # ModelsService.convertBackendModel reads these
    for name in ("id", "name", "provider", "description", "capabilities", "contextLength",
                 "pricing", "isActive", "restrictedAccess", "createdAt", "updatedAt",
                 "inputCostPerToken", "outputCostPerToken", "supportsVision",
                 "supportsFunctionCalling", "supportsChat", "backendModelName"):
        assert name in item, name
    assert isinstance(item["capabilities"], list)
    assert set(item["pricing"]) >= {"input", "output", "unit"}


def test_search_provider_and_capability_filters_as_the_ui_sends_them(app, client, sim):
    sync(app, sim, 12)
    everything = client.get(f"{MODELS}?page=1&limit=12").get_json()["data"]
    provider = everything[0]["provider"]
    by_provider = client.get(f"{MODELS}?page=1&limit=12&provider={provider}").get_json()["data"]
    assert by_provider and {m["provider"] for m in by_provider} == {provider}
    vision = client.get(f"{MODELS}?page=1&limit=12&capability=vision").get_json()["data"]
    assert vision and all("vision" in m["capabilities"] for m in vision)
    assert len(vision) < len(everything)
    name = everything[-1]["id"]
    found = client.get(f"{MODELS}?page=1&limit=12&search={name[:6]}").get_json()["data"]
    assert name in {m["id"] for m in found}


def test_details_of_one_model_answer_the_list_shape(app, client, sim):
    sync(app, sim, 12)
    listed = client.get(f"{MODELS}?limit=1").get_json()["data"][0]
    detail = client.get(f"{MODELS}/{listed['id']}").get_json()
    assert {k: detail[k] for k in listed} == listed


def test_the_whole_catalogue_answer_is_served_from_the_read_cache(app, client, sim):
    sync(app, sim, 1005)
    first = client.get(f"{MODELS}?page=1&limit=1000")
    assert len(first.data) > 1024 * 1024  # above the old 1 MB cap: it was rebuilt each time
    etag = first.get_etag()[0]
    state = app.extensions["read_cache"]
    cached = [entry for entry in state.bodies._entries.values() if entry.etag == etag]
    assert cached and cached[0].body == first.data
    again = client.get(f"{MODELS}?page=1&limit=1000", headers={"If-None-Match": f'"{etag}"'})
    assert again.status_code == 304
