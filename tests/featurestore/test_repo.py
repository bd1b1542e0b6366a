"""Data scientists can browse the repo: every definition says what it means, and the Feast
CLI (``feast ui``, ``feast plan``) can read ``settings.feast_dir`` as it is written."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def test_every_definition_and_feature_has_a_description() -> None:
    from feast import Entity, FeatureService, FeatureView

    from features.feature_repo import definitions

    missing = []
    for obj in definitions.ALL:
        if isinstance(obj, Entity | FeatureView | FeatureService) and not obj.description:
            missing.append(obj.name)
        if isinstance(obj, FeatureView):
            missing += [f"{obj.name}:{f.name}" for f in obj.features if not f.description]
    assert not missing, f"no description: {missing}"
    names = {o.name for o in definitions.ALL}
    assert {"patient", "practitioner", "institution", "specialty", "region"} <= names
    assert {"referral_matching_v1", "specialist_scheduling_v1",
            "practitioner_availability_push"} <= names


def test_the_repo_folder_is_a_feast_repo(sqlite_online,  # type: ignore[no-untyped-def]
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """feature_store.yaml + repo.py shim: what `feast -c DIR ui|plan` needs, and the
    descriptions reach the registry that `feast ui` shows."""
    settings, store = sqlite_online.settings, sqlite_online.store
    repo = settings.feast_dir
    assert (repo / "feature_store.yaml").exists()
    assert "features.feature_repo.definitions" in (repo / "repo.py").read_text()
    assert "data/" in (repo / ".feastignore").read_text()

    from feast.repo_operations import parse_repo

    monkeypatch.chdir(repo)  # what `feast -c DIR plan|ui` does with the folder
    monkeypatch.syspath_prepend(str(repo))
    monkeypatch.delitem(__import__("sys").modules, "repo", raising=False)
    parsed = parse_repo(repo)
    assert {fv.name for fv in parsed.feature_views} >= {"patient_profile_fv",
                                                        "practitioner_availability_fv"}
    fv = store.get_feature_view("practitioner_availability_fv")
    assert all(f.description for f in fv.features)
    assert store.get_feature_service("referral_matching_v1").description


def test_feast_ui_serves_the_descriptions(sqlite_online) -> None:  # type: ignore[no-untyped-def]
    """The app behind `feast -c <feast_dir> ui`, in-process: the registry with descriptions."""
    pytest.importorskip("grpc_health", reason="feast ui needs grpcio-health-checking "
                        "(==1.81.1 matches protobuf 6): add it to the dependencies")
    from fastapi.testclient import TestClient
    from feast import ui_server

    settings = sqlite_online.settings
    app = ui_server.get_app(sqlite_online.store, settings.feast_project)
    with TestClient(app) as client:
        assert client.get("/projects-list.json").status_code == 200
        fv = client.get("/api/v1/feature_views/practitioner_availability_fv",
                        params={"project": settings.feast_project}).json()
    features = fv["spec"]["features"]
    assert {f["name"] for f in features} == {"next_open_slot", "free_slots_14d", "booked_14d"}
    assert all(f.get("description") for f in features)
