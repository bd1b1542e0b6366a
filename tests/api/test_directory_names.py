"""Recommendations name their practitioners from the holders' directories, and a name the
hospital changes shows on the next request."""

from __future__ import annotations

import time
from pathlib import Path

from collaboration_api.directory.service import organization, with_names
from features.records import Organization, Practitioner, RecordStore
from regioncare.settings import Settings
from serving.schemas import RecommendItem
from tests.api.conftest import INSTITUTIONS, build_region, practitioner_id


def test_suggestions_carry_the_current_names(tmp_path: Path) -> None:
    home = tmp_path / "var"
    build_region(home / "records")
    settings = Settings(environment="test", home=home, mlflow_dir=tmp_path / "mlflow")
    inst = next(iter(INSTITUTIONS))
    pid = practitioner_id(inst, 1)
    items = [RecommendItem(practitioner_id=p, institution_id=i, specialty="cardiology",
                           score=1.0, reasons=[], distance_km=1.0)
             for i, p in ((inst, pid), (inst, "PR-NOBODY"), ("R9-X9", pid))]
    assert [i.practitioner_name for i in with_names(settings, items)] == [
        f"Dr {inst} 1", None, None]  # unknown practitioner or institution: no name

    time.sleep(0.05)  # the store's file times tell the cache the directory changed
    with RecordStore.for_institution(home / "records", inst) as store:
        store.upsert_resource(Practitioner(id=pid, organization=inst, name="Dr Renamed",
                                           gender="female", title="chief",
                                           experience_years=20))
        # seen while the writer still holds the store (the change is in its write-ahead log)
        assert with_names(settings, items)[0].practitioner_name == "Dr Renamed"


def test_an_institutions_new_name_is_seen_on_the_next_read(tmp_path: Path) -> None:
    home = tmp_path / "var"
    build_region(home / "records")
    settings = Settings(environment="test", home=home, mlflow_dir=tmp_path / "mlflow")
    inst = next(iter(INSTITUTIONS))
    assert organization(settings, inst)["name"] == INSTITUTIONS[inst][1]  # type: ignore[index]
    assert organization(settings, "R9-X9") is None
    time.sleep(0.05)
    with RecordStore.for_institution(home / "records", inst) as store:
        store.upsert_resource(Organization(id=inst, organization=inst, name="Renamed Hospital",
                                           tier=3, region=inst[:2]))
        assert organization(settings, inst)["name"] == "Renamed Hospital"  # type: ignore[index]
