"""The synthetic region: determinism, shape, formats, planted duplicates, the oracle."""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fhir.resources.R4B.bundle import Bundle

from features.codes import DIAGNOSIS_BY_CODE, SPECIALTIES
from features.synth import generate, load_ground_truth, oracle_scores
from features.synth.names import valid_resident_id
from regioncare.errors import UserError

from .conftest import AS_OF, SEED


def _tree_digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_generate_is_byte_identical(region, tmp_path):
    out, counts = region
    again = generate(tmp_path / "again", seed=SEED, scale="tiny", as_of=AS_OF)
    assert again == counts
    assert _tree_digest(out) == _tree_digest(tmp_path / "again")


def test_counts_and_manifest_shape(region):
    out, counts = region
    assert set(counts) == {"institutions", "patients", "practitioners", "referrals", "files"}
    assert counts["institutions"] == 18
    assert counts["patients"] == 2000
    assert 120 <= counts["practitioners"] <= 180
    assert 3000 <= counts["referrals"] <= 5000
    man = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert set(man) == {"seed", "scale", "as_of", "regions", "exports"}
    assert man["seed"] == SEED and man["scale"] == "tiny" and man["as_of"] == "2026-11-01"
    assert len(man["regions"]) >= 3
    assert {"region", "name_zh", "name_en", "lat", "lon"} <= set(man["regions"][0])
    formats = [e["format"] for e in man["exports"]]
    assert len(man["exports"]) == counts["institutions"]
    assert formats.count("fhir") >= len(formats) / 3 and formats.count("csv") >= len(
        formats) / 3
    for e in man["exports"]:
        assert set(e) == {"institution", "format", "path"}
        assert (out / e["path"]).is_dir()
        assert e["institution"].split("-")[1][0] in "TSC"
    assert sum(1 for p in (out / "exports").rglob("*") if p.is_file()) == counts["files"]


def test_unknown_scale_is_a_user_error(tmp_path):
    with pytest.raises(UserError):
        generate(tmp_path / "x", seed=1, scale="huge", as_of=AS_OF)


def test_fhir_bundles_validate(region):
    out, _ = region
    man = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    fhir = [e for e in man["exports"] if e["format"] == "fhir"]
    types_seen: set[str] = set()
    bundle_types: set[str] = set()
    for e in fhir[:4]:
        for f in sorted((out / e["path"]).glob("bundle-*.json"))[:2]:
            doc = json.loads(f.read_text(encoding="utf-8"))
            Bundle.model_validate(doc)
            bundle_types.add(doc["type"])
            types_seen |= {x["resource"]["resourceType"] for x in doc["entry"]}
    assert {"Organization", "Location", "Practitioner", "PractitionerRole", "Patient",
            "Condition", "ServiceRequest", "Task"} <= types_seen
    assert bundle_types <= {"collection", "transaction"}


def test_csv_exports_decode_with_their_mapping(region):
    out, _ = region
    man = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    encodings = set()
    for e in man["exports"]:
        if e["format"] != "csv":
            continue
        mapping = json.loads((out / e["path"] / "mapping.json").read_text(encoding="utf-8"))
        encodings.add(mapping["encoding"])
        cols = mapping["files"]["patients"]["columns"]
        with open(out / e["path"] / "patients.csv", encoding=mapping["encoding"]) as fh:
            header = next(csv.reader(fh))
        assert set(header) == set(cols)
    assert "gb18030" in encodings
    gb = next(e for e in man["exports"] if e["format"] == "csv" and json.loads(
        (out / e["path"] / "mapping.json").read_text())["encoding"] == "gb18030")
    raw = (out / gb["path"] / "institution.csv").read_bytes()
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")
    assert "区" in raw.decode("gb18030")


def test_people_look_plausible(region):
    out, _ = region
    persons = pd.read_csv(out / "ground_truth" / "persons.csv", dtype=str)
    assert all(valid_resident_id(r) for r in persons["resident_id"])
    assert persons["resident_id"].is_unique
    birth = pd.to_datetime(persons["birth_date"])
    age = (pd.Timestamp(AS_OF) - birth).dt.days / 365.25
    assert (age >= 90).sum() >= 3  # centenarians and over-89s exist
    assert 0.10 < (age < 15).mean() < 0.26  # census 2020: 17.95% aged 0-14
    assert 0.45 < (persons["gender"] == "male").mean() < 0.57


def test_duplicates_are_planted(region):
    out, _ = region
    ids = pd.read_csv(out / "ground_truth" / "identities.csv", dtype=str)
    per_person = ids.groupby("person_id")["institution"].nunique()
    assert (per_person >= 2).mean() > 0.3
    # Community centre + tertiary hospital is the commonest pair.
    tiers = ids.assign(t=ids["institution"].str.split("-").str[1].str[0])
    both = tiers.groupby("person_id")["t"].agg(set)
    assert sum({"C", "T"} <= s for s in both) > 100


def test_referrals_follow_the_hidden_model(region):
    out, _ = region
    truth = load_ground_truth(out)
    ref = truth.referrals
    assert set(ref["status"]) == {"accepted", "declined", "completed"}
    assert set(ref["urgency"]) == {"routine", "urgent", "emergency"}
    # Upward only.
    tier = truth.practitioners["tier"]
    assert (tier.loc[ref["target"]].to_numpy() > ref["origin_tier"].astype(int)).all()
    # Specialty fit dominates the choice.
    spec = truth.practitioners["specialty"].loc[ref["target"]].to_numpy()
    dx_spec = np.array([DIAGNOSIS_BY_CODE[c].specialty for c in ref["diagnosis"]])
    assert (spec == dx_spec).mean() > 0.5
    assert set(spec) <= set(SPECIALTIES) - {"general_practice"}


def test_oracle_scores_shape_and_chosen_targets_score_high(region):
    out, _ = region
    truth = load_ground_truth(out)
    rows = truth.referrals.iloc[:300]
    cands = sorted(truth.practitioners.index[truth.practitioners["tier"] == 3])
    scores = oracle_scores(truth, rows[["truth_id"]], cands)
    assert scores.shape == (300, len(cands))
    assert np.isfinite(scores).all()
    assert np.array_equal(scores, oracle_scores(truth, rows[["truth_id"]], cands))
    by_src = oracle_scores(truth, rows[["institution", "source_id"]], cands)
    assert np.array_equal(scores, by_src)
    # Chosen tertiary targets score above the average candidate, and usually in the top 10%.
    chosen = rows[rows["target"].isin(cands)]
    s = oracle_scores(truth, chosen[["truth_id"]], cands)
    pos = [cands.index(t) for t in chosen["target"]]
    mine = s[np.arange(len(pos)), pos]
    assert (mine > s.mean(axis=1)).mean() > 0.9
    rank_pct = (s > mine[:, None]).mean(axis=1)
    assert np.median(rank_pct) < 0.1
    # Unknown candidates score -inf; the stored utility equals the oracle's.
    odd = oracle_scores(truth, rows[["truth_id"]].iloc[:2], ["PR-NOPE-0001", cands[0]])
    assert np.isneginf(odd[:, 0]).all() and np.isfinite(odd[:, 1]).all()
    full = oracle_scores(truth, chosen[["truth_id"]].iloc[:50],
                         sorted(truth.practitioners.index))
    ids = sorted(truth.practitioners.index)
    got = full[np.arange(50), [ids.index(t) for t in chosen["target"].iloc[:50]]]
    assert np.allclose(got, chosen["utility"].iloc[:50].astype(float), atol=1e-5)
    # Outside the choice set (not above the origin's tier) nobody was ever chosen.
    tiers = truth.practitioners.loc[ids, "tier"].to_numpy()
    origin = chosen["origin_tier"].iloc[:50].astype(int).to_numpy()
    assert np.isneginf(full[tiers[None, :] <= origin[:, None]]).all()


def test_chunked_generation_streams_and_stays_readable(tmp_path, monkeypatch):
    """The large-scale code path: several chunks append to the same export files."""
    from dataclasses import replace

    from features.ingest import ingest
    from features.synth import world

    from .conftest import make_settings

    small = replace(world.SCALES["tiny"], patients=900, chunk=300, tertiary_staff=16,
                    secondary_staff=10)
    monkeypatch.setitem(world.SCALES, "tiny", small)
    out = tmp_path / "chunked"
    counts = generate(out, seed=5, scale="tiny", as_of=AS_OF)
    assert counts["patients"] == 900
    persons = pd.read_csv(out / "ground_truth" / "persons.csv", dtype=str)
    assert persons["person_id"].is_unique and len(persons) == 900
    truth = pd.read_csv(out / "ground_truth" / "referrals.csv", dtype=str)
    assert truth["truth_id"].is_unique and len(truth) == counts["referrals"]
    seen = []
    rep = ingest([out], settings=make_settings(tmp_path / "home"), progress=seen.append)
    j = rep.to_json()
    assert j["rejected"] == 0, j["rejects"][:3]
    assert j["by_type"]["ServiceRequest"] == counts["referrals"]
    ids = pd.read_csv(out / "ground_truth" / "identities.csv", dtype=str)
    assert j["by_type"]["Patient"] == len(ids)
    assert sum(seen) == j["accepted"] + j["rejected"]
    # Several FHIR bundles per institution (one per chunk), BOM only at the file start.
    man = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    for e in man["exports"]:
        folder = out / e["path"]
        if e["format"] == "fhir":
            assert len(list(folder.glob("bundle-*.json"))) >= 2
        else:
            raw = (folder / "patients.csv").read_bytes()
            assert raw.count(b"\xef\xbb\xbf") <= 1
