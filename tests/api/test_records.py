"""Done when: a patient's records are read across institutions only under a grant on the
ledger, each returned record hash-checked against the chain and logged in the Merkle access
log, a denial logged as well, a tampered record withheld and reported, the grant named in
the audit trail, and the logged access provable over /ledger/log/inclusion.

Real components: the embedded chain (indexed by ``ledger.indexer``), the institutions'
record stores and the app database (SQLite and PostgreSQL), one module-wide app per backend.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from ledger.accesslog import check_inclusion
from tests.api.conftest import (
    BACKENDS,
    INSTITUTIONS,
    Api,
    api_settings,
    build_region,
    make_database,
    patient_id,
    practitioner_id,
    pseudonym,
)


def add_clinical_records(records_dir: Path) -> None:
    """Clinical records of R1-C1's patients 1-4 at R1-C1; patient 1 is also known at R1-S1
    (same regional pseudonym, another local id) with a record there."""
    from features.records import (
        Condition,
        Observation,
        Patient,
        RecordStore,
        ServiceRequest,
        Task,
    )

    res: list[Any] = []
    for i in range(1, 5):
        pid = patient_id("R1-C1", i)
        res += [
            Condition(
                id=f"DX-{i}-1",
                organization="R1-C1",
                subject=pid,
                code="I10",
                onset="2025-03-01T00:00:00Z",
            ),
            Observation(
                id=f"OB-{i}-1",
                organization="R1-C1",
                subject=pid,
                code="2345-7",
                system="http://loinc.org",
                value=i + 0.5,
                unit="mmol/L",
                effective="2025-03-02T00:00:00Z",
            ),
        ]
    res += [
        Condition(
            id="DX-1-2",
            organization="R1-C1",
            subject=patient_id("R1-C1", 1),
            code="F32.1",
            onset="2025-04-01T00:00:00Z",
        ),  # sensitive: level 2
        ServiceRequest(
            id="SR-1",
            organization="R1-C1",
            subject=patient_id("R1-C1", 1),
            requester=practitioner_id("R1-C1", 1),
            reasonCode="I20.0",
            authoredOn="2025-05-01T00:00:00Z",
        ),
        Task(
            id="TK-1",
            organization="R1-C1",
            focus="SR-1",
            status="accepted",
            lastModified="2025-05-02T00:00:00Z",
        ),
    ]
    with RecordStore.for_institution(records_dir, "R1-C1") as store:
        store.upsert_many(res)
    with RecordStore.for_institution(records_dir, "R1-S1") as store:
        store.upsert_many(
            [
                Patient(
                    id="S1-X1",
                    organization="R1-S1",
                    mrn="X1",
                    name="Patient R1-C1 1",
                    gender="male",
                    birthDate="1960-01-01",
                    patient_id_regional=pseudonym("R1-C1", 1),
                ),
                Condition(
                    id="DX-S1-1",
                    organization="R1-S1",
                    subject="S1-X1",
                    code="E11.9",
                    onset="2025-06-01T00:00:00Z",
                ),
            ]
        )


@pytest.fixture(scope="module", params=BACKENDS)
def rec(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    from collaboration_api.auth.service import seed_demo_users
    from collaboration_api.main import create_app
    from ledger.indexer import index_stores
    from ledger.service import open_ledger

    root = tmp_path_factory.mktemp(f"records-{request.param}")
    home = root / "var"
    build_region(home / "records")
    add_clinical_records(home / "records")
    db = make_database(request.param, root)
    settings = api_settings(home, db.url)
    try:
        with open_ledger(settings) as ledger:  # a new ledger directory: deployed here
            report = index_stores(ledger.client, settings.records_dir)
        assert report.registered > 0 and not report.conflicts
        accounts = {a["username"]: a for a in seed_demo_users(settings, list(INSTITUTIONS))}
        with TestClient(create_app(settings)) as client:
            yield Api(client, settings, accounts, request.param)
    finally:
        if db.drop:
            db.drop()


def records_of(api: Api, user: str, patient: str, **params: str):  # type: ignore[no-untyped-def]
    return api.get(f"/patients/{patient}/records", user, params=params)


def grant(api: Api, patient: str, **body: Any):  # type: ignore[no-untyped-def]
    payload = {
        "grantee_institution_id": "R1-T1",
        "role": "physician",
        "max_level": 1,
        "purpose": "treatment",
        "consent_reference": f"consent form {patient}",
        **body,
    }
    return api.post(f"/patients/{patient}/grants", api.user("clinician", "R1-C1"), payload)


def audit(api: Api, **params: str) -> list[dict[str, Any]]:
    admin = api.user("admin", "R1-T1")
    r = api.get("/supervision/audit", admin, params={"limit": 100, **params})
    assert r.status_code == 200, r.text
    return r.json()["items"]


def log_entry(api: Api, user: str, index: int) -> dict[str, Any]:
    """The access-log entry at ``index``, once its inclusion proof from the API verified
    against the served root and its leaf matched the entry's bytes in the log."""
    from ledger.merkle import leaf_hash

    proof = api.get("/ledger/log/inclusion", user, params={"index": index})
    assert proof.status_code == 200, proof.text
    doc = proof.json()
    assert check_inclusion(doc)
    assert doc["root"] == api.get("/ledger/log/root", user).json()["root"]
    entry = api.client.app.state.ledger.ledger.log.tree.entry(index)
    assert leaf_hash(entry).hex() == doc["leaf"]
    return json.loads(entry)


def test_grant_allows_a_verified_read_and_revoke_stops_it(rec: Api) -> None:
    spec = rec.user("specialist", "R1-T1")
    ref = pseudonym("R1-C1", 1)
    size0 = rec.get("/ledger/log/root", spec).json()["size"]

    # no grant: 403, the denial in the access log and the audit trail
    denied = records_of(rec, spec, ref, institution="R1-C1")
    assert denied.status_code == 403, denied.text
    assert denied.headers["content-type"].startswith("application/problem+json")
    assert "Traceback" not in denied.text and "\n" not in denied.json()["detail"]
    indices = denied.json()["log_indices"]
    assert len(indices) == 6 and min(indices) >= size0  # every record of theirs at R1-C1
    entry = log_entry(rec, spec, indices[0])
    assert (entry["reader"], entry["allowed"]) == ("R1-T1", False)
    events = audit(rec, patient_ref=ref, outcome="4")
    assert any(
        e["subtype"] == "access.denied"
        and e["actor_institution"] == "R1-T1"
        and e["entity_institution"] == "R1-C1"
        for e in events
    )

    # the home (R1-C1) grants R1-T1's physicians level 1 for treatment
    made = grant(rec, ref)
    assert made.status_code == 201, made.text
    g = made.json()
    assert (
        g["grantee_institution_id"],
        g["role"],
        g["purpose"],
        g["active"],
        g["home_institution_id"],
    ) == ("R1-T1", "physician", "treatment", True, "R1-C1")
    assert len(g["consent_sha256"]) == 64 and "consent" not in g["consent_sha256"]

    started = time.perf_counter()
    r = records_of(rec, spec, ref)
    elapsed_ms = (time.perf_counter() - started) * 1000
    assert r.status_code == 200, r.text
    page = r.json()
    got = {i["record_id"]: i for i in page["items"]}
    # level-1 records at both holders; the level-2 diagnosis is withheld, and says why
    assert set(got) == {
        "Patient/" + patient_id("R1-C1", 1),
        "Condition/DX-1-1",
        "Observation/OB-1-1",
        "ServiceRequest/SR-1",
        "Task/TK-1",
        "Patient/S1-X1",
        "Condition/DX-S1-1",
    }
    assert {i["holder"] for i in page["items"]} == {"R1-C1", "R1-S1"}
    assert [(w["record_id"], w["reason"]) for w in page["withheld"]] == [
        ("Condition/DX-1-2", "no-grant")
    ]
    for item in page["items"]:
        led = item["ledger"]
        assert led["verified"] is True and led["grant_id"] == g["id"]
        assert led["purpose"] == "treatment" and isinstance(led["log_index"], int)
        body = json.dumps(
            item["resource"], sort_keys=True, separators=(",", ":"), ensure_ascii=False
        ).encode()
        assert hashlib.sha256(body).hexdigest() == led["sha256"]
    print(f"cross-institution read of {len(got)} records: {elapsed_ms:.1f} ms")

    # the access is in the Merkle log, provably
    one = got["Condition/DX-1-1"]["ledger"]["log_index"]
    entry = log_entry(rec, spec, one)
    assert (entry["reader"], entry["allowed"]) == ("R1-T1", True)
    # the audit trail names the grant, and can be searched by it
    by_grant = audit(rec, grant_id=g["id"])
    reads = [e for e in by_grant if e["subtype"] == "record.read"]
    assert {e["entity_id"] for e in reads} >= {"Condition/DX-1-1", "Condition/DX-S1-1"}
    assert all(e["purpose"] == "treatment" and e["actor_institution"] == "R1-T1" for e in reads)
    supervisor = rec.user("supervisor", "R1-T1")
    seen = rec.get(
        "/supervision/audit", supervisor, params={"grant_id": g["id"], "purpose": "treatment"}
    ).json()["items"]
    assert seen and all(e["grant_id"] == g["id"] for e in seen)
    fhir = rec.get(f"/fhir/AuditEvent/{reads[0]['id']}", rec.user("admin", "R1-T1")).json()
    assert fhir["purposeOfEvent"][0]["coding"][0]["code"] == "treatment"
    assert {"reference": f"Consent/{g['id']}"} in [e["what"] for e in fhir["entity"]]

    # a filter by holder and type
    only = records_of(rec, spec, ref, institution="R1-S1", type="Condition").json()
    assert [i["record_id"] for i in only["items"]] == ["Condition/DX-S1-1"]

    # the grantee sees its grant; revoke (home only) and the next read is refused at once
    listed = rec.get(f"/patients/{ref}/grants", spec).json()
    assert [x["id"] for x in listed] == [g["id"]]
    assert (
        rec.client.delete(
            f"/patients/{ref}/grants/{g['id']}", headers=rec.headers(spec)
        ).status_code
        == 403
    )
    gone = rec.client.delete(
        f"/patients/{ref}/grants/{g['id']}",
        headers=rec.headers(rec.user("clinician", "R1-C1")),
        params={"consent_reference": "withdrawal 2026-11-30"},
    )
    assert gone.status_code == 200, gone.text
    assert gone.json()["active"] is False
    again = records_of(rec, spec, ref)
    assert again.status_code == 403, again.text
    assert any(e["subtype"] == "grant.revoke" for e in audit(rec, grant_id=g["id"]))


def test_tampered_record_is_withheld_and_reported(rec: Api) -> None:
    spec = rec.user("specialist", "R1-T1")
    ref = pseudonym("R1-C1", 2)
    assert grant(rec, ref, purpose="consult").status_code == 201
    store = rec.settings.records_dir / "R1-C1" / "records.sqlite"
    conn = sqlite3.connect(store)
    (original,) = conn.execute(
        "SELECT body FROM records WHERE record_id='Observation/OB-2-1'"
    ).fetchone()
    tampered = bytes(original).replace(b'"value":2.5', b'"value":9.75')
    assert tampered != bytes(original)
    conn.execute("UPDATE records SET body=? WHERE record_id='Observation/OB-2-1'", (tampered,))
    conn.commit()
    try:
        r = records_of(rec, spec, ref)
        assert r.status_code == 200, r.text
        page = r.json()
        assert "Observation/OB-2-1" not in {i["record_id"] for i in page["items"]}
        assert "Condition/DX-2-1" in {i["record_id"] for i in page["items"]}
        (bad,) = [w for w in page["withheld"] if w["record_id"] == "Observation/OB-2-1"]
        assert bad["reason"] == "mismatch" and bad["holder"] == "R1-C1"
        assert bad["sha256_actual"] != bad["sha256_expected"]
        assert "9.75" not in json.dumps(page)
        events = audit(rec, patient_ref=ref, outcome="8")
        assert any(
            e["subtype"] == "record.mismatch" and e["entity_id"] == "Observation/OB-2-1"
            for e in events
        )
    finally:
        conn.execute("UPDATE records SET body=? WHERE record_id='Observation/OB-2-1'", (original,))
        conn.commit()
        conn.close()
    fixed = records_of(rec, spec, ref).json()
    assert "Observation/OB-2-1" in {i["record_id"] for i in fixed["items"]}


def test_accepting_a_referral_grants_the_receiving_institution(rec: Api) -> None:
    clin = rec.user("clinician", "R1-C1")
    sched = rec.user("scheduler", "R1-T1")
    spec = rec.user("specialist", "R1-T1")
    ref = pseudonym("R1-C1", 3)
    assert records_of(rec, spec, ref).status_code == 403
    created = rec.post(
        "/referrals",
        clin,
        {
            "patient_id": patient_id("R1-C1", 3),
            "diagnosis_code": "I10",
            "urgency": "routine",
            "reason": "resistant hypertension",
        },
    )
    assert created.status_code == 201, created.text
    rid = created.json()["id"]
    assert created.json()["patient_ref"] == ref  # what the receiving side opens records by
    chosen = rec.post(
        f"/referrals/{rid}/choose",
        clin,
        {"practitioner_id": practitioner_id("R1-T1", 1), "institution_id": "R1-T1"},
    )
    assert chosen.status_code == 200, chosen.text
    accepted = rec.post(f"/referrals/{rid}/accept", sched)
    assert accepted.status_code == 200, accepted.text
    grants = rec.get(f"/patients/{patient_id('R1-C1', 3)}/grants", clin).json()
    (g,) = grants
    assert (g["grantee_institution_id"], g["purpose"], g["max_level"]) == ("R1-T1", "referral", 1)
    days = (datetime.fromisoformat(g["expires_at"]) - datetime.now(UTC)).total_seconds() / 86400
    assert 29 < days < 31
    page = records_of(rec, spec, ref)
    assert page.status_code == 200, page.text
    assert {i["ledger"]["purpose"] for i in page.json()["items"]} == {"referral"}
    assert any(
        e["subtype"] == "referral.grant" and e["outcome"] == "0"
        for e in audit(rec, purpose="referral", patient_ref=ref)
    )


def test_own_records_roles_and_unknown_patients(rec: Api) -> None:
    clin = rec.user("clinician", "R1-C1")
    local = patient_id("R1-C1", 4)
    own = records_of(rec, clin, local)
    assert own.status_code == 200, own.text
    items = own.json()["items"]
    assert {i["record_id"] for i in items} == {
        f"Patient/{local}",
        "Condition/DX-4-1",
        "Observation/OB-4-1",
    }
    assert all(
        i["holder"] == "R1-C1"
        and i["ledger"]["verified"] is True
        and i["ledger"]["log_index"] is None
        for i in items
    )
    assert any(
        e["subtype"] == "record.read" and e["entity_id"] == local
        for e in audit(rec, patient_ref=pseudonym("R1-C1", 4))
    )
    # roles that treat nobody read no records; the attempt is audited
    sched = rec.user("scheduler", "R1-T1")
    assert records_of(rec, sched, pseudonym("R1-C1", 4)).status_code == 403
    missing = records_of(rec, clin, "no-such-patient")
    assert missing.status_code == 404 and missing.json()["title"] == "Unknown patient"
    # only the home grants: R1-C2 may not, neither may a specialist at the home's side
    other = rec.post(
        f"/patients/{pseudonym('R1-C1', 4)}/grants",
        rec.user("clinician", "R1-C2"),
        {"grantee_institution_id": "R1-T1", "consent_reference": "x"},
    )
    assert other.status_code == 403, other.text
    bad = grant(rec, local, role="surgeon")
    assert bad.status_code == 422
    assert grant(rec, local, grantee_institution_id="NOPE-1").status_code == 422
    # the proofs are for signed-in users only; the ledger is part of readiness
    assert rec.client.get("/ledger/log/root").status_code == 401
    assert rec.client.get("/readyz").json()["checks"]["ledger"]["ok"] is True
    # the console's records view (the page fetches the records itself, with the token)
    for lang, words in (("en", "Ledger check"), ("zh-CN", "账本核验")):
        page = rec.client.get(
            f"/console/patients/{pseudonym('R1-C1', 4)}/records", params={"lang": lang}
        )
        assert page.status_code == 200 and words in page.text
