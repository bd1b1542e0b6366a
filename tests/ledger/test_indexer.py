"""The indexer: every patient record of every store on chain, once; changes superseded;
homes where the patient was first registered; nothing but opaque values on chain."""

from __future__ import annotations

from pathlib import Path

from features.records import (
    Condition,
    Observation,
    Organization,
    Patient,
    RecordStore,
    ServiceRequest,
    Task,
)
from ledger import ids
from ledger.client import LedgerClient
from ledger.indexer import classify, index_stores


def _region(records: Path) -> None:
    with RecordStore.for_institution(records, "R1-C1") as s:
        s.upsert_many(
            [
                Organization(id="R1-C1", organization="R1-C1", name="Chengnan CHC"),
                Patient(
                    id="P1",
                    organization="R1-C1",
                    name="Wang Wei",
                    resident_id="110101",
                    registered="2020-01-01",
                    patient_id_regional="p_alice",
                ),
                Condition(id="DX1", organization="R1-C1", subject="P1", code="I10"),
                Condition(id="DX2", organization="R1-C1", subject="P1", code="F32.1"),
                ServiceRequest(id="SR1", organization="R1-C1", subject="P1", reasonCode="I20.0"),
                Task(id="TK1", organization="R1-C1", focus="SR1", status="accepted"),
            ]
        )
    with RecordStore.for_institution(records, "R1-T1") as s:
        s.upsert_many(
            [
                Patient(
                    id="T9",
                    organization="R1-T1",
                    name="Wang Wei",
                    registered="2024-05-01",
                    patient_id_regional="p_alice",
                ),
                Observation(id="OB1", organization="R1-T1", subject="T9", code="2345-7", value=6.1),
            ]
        )


def test_index_once_supersede_changes_and_set_homes(tmp_path: Path) -> None:
    records = tmp_path / "records"
    _region(records)
    client = LedgerClient.open(tmp_path / "ledger", durable=False)
    try:
        first = index_stores(client, records)
        assert (first.institutions, first.registered, first.not_patient) == (2, 7, 1)
        assert first.homes_set == 1 and not first.conflicts
        alice = ids.patient_key("p_alice")
        assert client.home_code(alice) == "R1-C1"  # registered there first
        rows = {r["record_id"]: r for r in client.index.records_of(alice)}
        assert set(rows) == {
            "Patient/P1",
            "Condition/DX1",
            "Condition/DX2",
            "ServiceRequest/SR1",
            "Task/TK1",
            "Patient/T9",
            "Observation/OB1",
        }
        assert (
            rows["Condition/DX1"]["level"],
            rows["Condition/DX2"]["level"],
            rows["Task/TK1"]["level"],
        ) == (1, 2, 0)
        # what the chain holds for a record: opaque key, pseudonym, hash - no identifier
        entry = client.get_record("R1-C1", "Patient/P1")
        assert entry is not None and entry.patient == alice
        assert b"Wang" not in entry.patient + entry.sha256 + entry.record_key

        again = index_stores(client, records)
        assert (again.registered, again.superseded, again.unchanged, again.homes_set) == (
            0,
            0,
            7,
            0,
        )

        with RecordStore.for_institution(records, "R1-T1") as s:
            s.upsert_resource(
                Observation(id="OB1", organization="R1-T1", subject="T9", code="2345-7", value=7.9)
            )
        changed = index_stores(client, records)
        assert (changed.registered, changed.superseded, changed.unchanged) == (0, 1, 6)
        assert client.get_record("R1-T1", "Observation/OB1").version == 2

        # relinked to another patient: the chain binds a record to one patient, so the
        # patient's records there are reported for review instead of written
        with RecordStore.for_institution(records, "R1-T1") as s:
            s.upsert_resource(
                Patient(
                    id="T9",
                    organization="R1-T1",
                    name="Wang Wei",
                    registered="2024-05-01",
                    patient_id_regional="p_bob",
                )
            )
        relinked = index_stores(client, records)
        assert {c["record_id"] for c in relinked.conflicts} == {"Patient/T9", "Observation/OB1"}
        assert relinked.superseded == 0
    finally:
        client.close()


def test_levels_come_from_the_resource_type_and_sensitive_codes() -> None:
    assert classify("Observation", {}) == ("Observation", 1)
    assert classify("Appointment", {}) == ("Appointment", 0)
    assert classify("Condition", {"code": "B20"}) == ("Condition", 2)
    assert classify("ServiceRequest", {"reasonCode": "f20.0"}) == ("ServiceRequest", 2)
    assert classify("Slot", {}) == ("Other", 1)
