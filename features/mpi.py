"""Master patient index: Fellegi-Sunter linking of patient records across institutions.

The adapters give every Patient record a provisional keyed pseudonym while they stream
(``DeterministicLinker``: HMAC of a valid resident ID, else of name + birth date + sex).
After the records are written, ``resolve_identities(settings)`` links the Patient records
of *all* record stores at once and rewrites the ``patient_id_regional`` of those whose
cluster says otherwise. The pass is a pure function of the stored records, so it is
order-independent, idempotent and safe to re-run after a crash.

Linking
- deterministic: two records with the same valid resident ID are one person; two records
  with different valid resident IDs are never linked (cannot-link), whatever else agrees.
- probabilistic (Fellegi-Sunter): records that share a blocking key (resident ID, phone,
  pinyin name + birth year, birth date + sex + region, name + birth month) are compared
  on name (characters, then toneless pinyin, then surname + length), birth date (exact,
  transposed digits / one digit / day-month swap, same year), sex, phone, address and
  region; the match weight is the sum of log2(m/u) of the agreement levels
  (``WEIGHTS``). Pairs at or above ``UPPER`` are linked (greedy, best first, a union that
  would join two different resident IDs is refused); pairs in [``LOWER``, ``UPPER``) go
  to the review queue.
- the cluster's pseudonym is the HMAC of its resident ID when it has one (so the keyed
  pseudonyms of people with an ID never change), else the smallest provisional fallback
  pseudonym of its members.

Review queue: ``records_dir/_mpi/review_queue.csv`` (the identified zone, next to the
record stores; it names local patient ids, never names or numbers), one row per possible
match with the score and the agreement level of every field. A reviewer's decisions go
to ``records_dir/_mpi/decisions.csv`` (``left_institution, left_patient,
right_institution, right_patient, decision`` with decision ``match`` or ``non-match``):
the next pass links ``match`` pairs and drops ``non-match`` pairs from the queue.
"""

from __future__ import annotations

import csv
import json
import os
import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd

from features.identity import (
    keyed_hash,
    normalise_name,
    normalise_resident_id,
    regional_patient_id,
)
from features.pinyin import pinyin_key
from features.records import RecordStore, list_stores

# log2(m/u) per field and agreement level. m: the share of true matches at that level
# (registration clerks' typos, pinyin registrations, transposed birth digits: a few %
# each); u: the share of non-matches among blocked pairs at that level (a common name
# such as 王伟 is shared by ~1 in 500 people; a birth date by ~1 in 30,000).
WEIGHTS: dict[str, dict[str, float]] = {
    "name": {"exact": float(np.log2(0.88 / 0.002)), "pinyin": float(np.log2(0.08 / 0.003)),
             "similar": float(np.log2(0.03 / 0.05)), "differ": float(np.log2(0.01 / 0.945)),
             "missing": 0.0},
    "birth": {"exact": float(np.log2(0.94 / 0.001)), "close": float(np.log2(0.05 / 0.001)),
              "year": float(np.log2(0.005 / 0.02)), "differ": float(np.log2(0.005 / 0.978)),
              "missing": 0.0},
    "sex": {"agree": float(np.log2(0.995 / 0.5)), "differ": float(np.log2(0.005 / 0.5)),
            "missing": 0.0},
    "phone": {"agree": float(np.log2(0.9 / 0.0001)), "differ": float(np.log2(0.1 / 0.9999)),
              "missing": 0.0},
    "address": {"agree": float(np.log2(0.85 / 0.001)),
                "partial": float(np.log2(0.10 / 0.002)),
                "differ": float(np.log2(0.05 / 0.997)), "missing": 0.0},
    "region": {"agree": float(np.log2(0.95 / 0.15)), "differ": float(np.log2(0.05 / 0.85)),
               "missing": 0.0},
}
# Same name + birth date + sex + region with a different phone and address scores ~16:
# two different people as often as one who moved; that goes to review, not to a link.
UPPER = 20.0
LOWER = 8.0
MAX_BLOCK = 400  # blocks larger than this (a key shared by too many records) are skipped
FIELDS = ["name", "birth", "sex", "phone", "address", "region"]


# ----------------------------------------------------------------------------- load
def load_patients(records_dir: Path) -> pd.DataFrame:
    """Identifying fields of every Patient record of every store (identified zone)."""
    cols = ["id", "resident_id", "name", "gender", "birthDate", "phone", "address",
            "district", "patient_id_regional"]
    parts = []
    for inst, path in list_stores(Path(records_dir)):
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            sel = ", ".join(f"json_extract(body, '$.{c}')" for c in cols)
            rows = db.execute(f"SELECT {sel} FROM records WHERE resource_type='Patient' "
                              "ORDER BY record_id").fetchall()
        finally:
            db.close()
        if rows:
            df = pd.DataFrame(rows, columns=cols, dtype=object)
            df.insert(0, "institution", inst)
            parts.append(df)
    if not parts:
        return pd.DataFrame(columns=["institution", *cols])
    return pd.concat(parts, ignore_index=True)


# ----------------------------------------------------------------------------- features
def _digits(s: str) -> str:
    return "".join(c for c in s if c.isdigit())


def _birth_variants(b: str) -> tuple[str, str, str]:
    """Transpositions that registration clerks make: the two day digits, the two month
    digits, day and month swapped (as strings 'YYYYMMDD'; invalid dates do no harm)."""
    if len(b) != 8:
        return ("", "", "")
    y, m, d = b[:4], b[4:6], b[6:]
    return (y + m + d[::-1], y + m[::-1] + d, y + d + m)


def prepare(df: pd.DataFrame) -> pd.DataFrame:
    """Normalised comparison fields (one row per record, same index)."""
    out = pd.DataFrame(index=df.index)

    def s(col: str) -> pd.Series:
        return df[col].fillna("").astype(str) if col in df else pd.Series("", index=df.index)

    out["rid"] = [normalise_resident_id(x) or "" for x in s("resident_id")]
    out["name"] = [normalise_name(x) for x in s("name")]
    out["py"] = [pinyin_key(x) for x in s("name")]
    out["surname"] = out["py"].str[:0]  # filled below
    first = [pinyin_key(x[:1]) if x and ord(x[0]) > 0x2E80 else "" for x in out["name"]]
    out["surname"] = first
    out["nlen"] = [len(x) if x and ord(x[0]) > 0x2E80 else 0 for x in out["name"]]
    out["birth"] = [_digits(x)[:8] for x in s("birthDate")]
    out["year"] = out["birth"].str[:4]
    out["month"] = out["birth"].str[:6]
    var = [_birth_variants(b) for b in out["birth"]]
    for k in range(3):
        out[f"bv{k}"] = [v[k] for v in var]
    out["sex"] = s("gender").str.lower().where(s("gender").str.lower().isin(
        ["male", "female"]), "")
    out["phone"] = [_digits(x)[-11:] for x in s("phone")]
    out["address"] = [normalise_name(x) for x in s("address")]
    out["region"] = s("district").str.strip()
    return out


def _pairs(f: pd.DataFrame) -> np.ndarray:
    """Candidate pairs (i < j, positional) from the blocking keys."""
    keys = {
        "rid": f["rid"],
        "phone": f["phone"],
        "py_year": f["py"] + "|" + f["year"],
        "birth_sex_region": f["birth"] + "|" + f["sex"] + "|" + f["region"],
        "name_month": f["name"] + "|" + f["month"],
    }
    empty = {"rid": "", "phone": "", "py_year": "|", "birth_sex_region": "||",
             "name_month": "|"}
    found = []
    pos = np.arange(len(f))
    for k, key in keys.items():
        key = key.to_numpy()
        ok = (key != empty[k]) & (key != "")
        if k in ("py_year", "name_month"):
            ok &= (f["py"].to_numpy() != "") & (f["year"].to_numpy() != "")
        if k == "birth_sex_region":
            ok &= f["birth"].to_numpy() != ""
        sub = pd.DataFrame({"k": key[ok], "i": pos[ok]})
        sizes = sub.groupby("k")["i"].transform("size")
        sub = sub[(sizes > 1) & (sizes <= MAX_BLOCK)]
        if sub.empty:
            continue
        m = sub.merge(sub, on="k", suffixes=("_a", "_b"))
        m = m[m["i_a"] < m["i_b"]]
        found.append(m[["i_a", "i_b"]].to_numpy(dtype=np.int64))
    if not found:
        return np.empty((0, 2), dtype=np.int64)
    allp = np.concatenate(found)
    return np.unique(allp, axis=0)


def compare(f: pd.DataFrame, pairs: np.ndarray) -> pd.DataFrame:
    """Agreement level of every field for each pair, and the match weight."""
    a, b = pairs[:, 0], pairs[:, 1]

    def col(c: str) -> np.ndarray:
        return f[c].to_numpy(dtype=object)

    out = pd.DataFrame({"i": a, "j": b})

    def levels(conds: list[tuple[np.ndarray, str]], default: str) -> np.ndarray:
        res = np.full(len(a), default, dtype=object)
        done = np.zeros(len(a), dtype=bool)
        for cond, lvl in conds:
            take = cond & ~done
            res[take] = lvl
            done |= take
        return res

    name, py, sur, nlen = col("name"), col("py"), col("surname"), col("nlen")
    miss = (name[a] == "") | (name[b] == "")
    out["name"] = levels([
        (miss, "missing"), (name[a] == name[b], "exact"), (py[a] == py[b], "pinyin"),
        ((sur[a] == sur[b]) & (nlen[a] == nlen[b]) & (nlen[a] > 0), "similar")], "differ")
    birth, year = col("birth"), col("year")
    close = np.zeros(len(a), dtype=bool)
    for k in range(3):
        v = col(f"bv{k}")
        close |= (v[a] == birth[b]) | (v[b] == birth[a])
    ba = np.array([x.ljust(8, "?") for x in birth[a]], dtype="U8").view("U1").reshape(-1, 8) \
        if len(a) else np.empty((0, 8), dtype="U1")
    bb = np.array([x.ljust(8, "?") for x in birth[b]], dtype="U8").view("U1").reshape(-1, 8) \
        if len(a) else np.empty((0, 8), dtype="U1")
    close |= (ba != bb).sum(axis=1) == 1
    out["birth"] = levels([
        ((birth[a] == "") | (birth[b] == ""), "missing"), (birth[a] == birth[b], "exact"),
        (close, "close"), (year[a] == year[b], "year")], "differ")
    for fld in ("sex", "phone", "address", "region"):
        x = col(fld)
        conds = [((x[a] == "") | (x[b] == ""), "missing"), (x[a] == x[b], "agree")]
        if fld == "address":  # one written without the flat (a prefix of the other)
            part = np.array([len(p) >= 6 and len(q) >= 6 and (p.startswith(q) or
                                                              q.startswith(p))
                             for p, q in zip(x[a], x[b], strict=True)], dtype=bool)
            conds.append((part, "partial"))
        out[fld] = levels(conds, "differ")
    score = np.zeros(len(a))
    for fld in FIELDS:
        w = WEIGHTS[fld]
        score += out[fld].map(w).to_numpy(dtype=float)
    rid = col("rid")
    both = (rid[a] != "") & (rid[b] != "")
    out["rid"] = levels([(~both, "missing"), (rid[a] == rid[b], "agree")], "differ")
    out["score"] = np.round(score, 3)
    return out


class _Clusters:
    """Union-find that refuses to join two different resident IDs."""

    def __init__(self, rids: np.ndarray) -> None:
        self.parent = np.arange(len(rids))
        self.rid: dict[int, str] = {i: r for i, r in enumerate(rids) if r}

    def find(self, i: int) -> int:
        p = self.parent
        root = i
        while p[root] != root:
            root = p[root]
        while p[i] != root:
            p[i], i = root, p[i]
        return int(root)

    def union(self, i: int, j: int) -> bool:
        ri, rj = self.find(i), self.find(j)
        if ri == rj:
            return True
        a, b = self.rid.get(ri), self.rid.get(rj)
        if a and b and a != b:
            return False
        if rj < ri:
            ri, rj = rj, ri
        self.parent[rj] = ri
        if b and not a:
            self.rid[ri] = b
        return True


def _read_decisions(path: Path) -> list[dict]:
    if not path.exists():
        return []
    with path.open(encoding="utf-8", newline="") as fh:
        return [r for r in csv.DictReader(fh)
                if r.get("decision") in ("match", "non-match")]


def link_frame(df: pd.DataFrame, key, *, upper: float = UPPER, lower: float = LOWER,
               decisions: list[dict] | None = None) -> tuple[list[str], pd.DataFrame]:
    """Pseudonym per row of ``df`` (columns as ``load_patients``) and the review queue."""
    n = len(df)
    if n == 0:
        return [], pd.DataFrame()
    df = df.reset_index(drop=True)
    f = prepare(df)
    pairs = _pairs(f)
    cmp = compare(f, pairs) if len(pairs) else pd.DataFrame(
        columns=["i", "j", *FIELDS, "rid", "score"])
    where = {(str(i), str(p)): k for k, (i, p) in enumerate(zip(df["institution"], df["id"],
                                                                 strict=True))}
    forced, refused = [], set()
    for d in decisions or []:
        ka = where.get((d.get("left_institution", ""), d.get("left_patient", "")))
        kb = where.get((d.get("right_institution", ""), d.get("right_patient", "")))
        if ka is None or kb is None:
            continue
        if d["decision"] == "match":
            forced.append((ka, kb))
        else:
            refused.add((min(ka, kb), max(ka, kb)))
    rids = f["rid"].to_numpy(dtype=object)
    cl = _Clusters(rids)
    # Deterministic first: the same valid resident ID.
    first_of: dict[str, int] = {}
    for i, r in enumerate(rids):
        if r:
            if r in first_of:
                cl.union(first_of[r], i)
            else:
                first_of[r] = i
    for ka, kb in forced:
        cl.union(ka, kb)
    if len(cmp):
        cmp = cmp[cmp["rid"] != "differ"]
        if refused:
            keep = [(int(i), int(j)) not in refused for i, j in zip(cmp["i"], cmp["j"],
                                                                   strict=True)]
            cmp = cmp[keep]
        cmp = cmp.sort_values(["score", "i", "j"], ascending=[False, True, True],
                              kind="stable")
        strong = cmp[cmp["score"] >= upper]
        for i, j in zip(strong["i"].to_numpy(), strong["j"].to_numpy(), strict=True):
            cl.union(int(i), int(j))
    roots = np.array([cl.find(i) for i in range(n)])
    provisional = [regional_patient_id(key, resident_id=None, name=nm, birth_date=bd,
                                       gender=g)
                   for nm, bd, g in zip(df["name"].fillna(""), df["birthDate"].fillna(""),
                                        df["gender"].fillna("unknown"), strict=True)]
    # Clusters without a resident ID: the smallest fallback pseudonym of their members;
    # namesakes that were not linked (two clusters, one fallback) are told apart by a
    # keyed hash of the first member's (institution, local id).
    fallback: dict[int, str] = {}
    first: dict[int, tuple[str, str]] = {}
    for r, p, inst, pid in zip(roots, provisional, df["institution"].astype(str),
                               df["id"].astype(str), strict=True):
        r = int(r)
        if r not in fallback or p < fallback[r]:
            fallback[r] = p
        if r not in first or (inst, pid) < first[r]:
            first[r] = (inst, pid)
    owner: dict[str, int] = {}
    for r in sorted((r for r in fallback if r not in cl.rid), key=lambda r: first[r]):
        if fallback[r] in owner:
            inst, pid = first[r]
            fallback[r] = "p_" + keyed_hash(key, f"mpi-record-v1\x1f{inst}\x1f{pid}")[:16]
        else:
            owner[fallback[r]] = r
    pseudo = [regional_patient_id(key, resident_id=cl.rid[int(r)])
              if int(r) in cl.rid else fallback[int(r)] for r in roots]
    review = pd.DataFrame()
    if len(cmp):
        maybe = cmp[(cmp["score"] >= lower) & (cmp["score"] < upper)]
        maybe = maybe[roots[maybe["i"].to_numpy()] != roots[maybe["j"].to_numpy()]]
        review = pd.DataFrame({
            "left_institution": df["institution"].to_numpy()[maybe["i"].to_numpy()],
            "left_patient": df["id"].to_numpy()[maybe["i"].to_numpy()],
            "right_institution": df["institution"].to_numpy()[maybe["j"].to_numpy()],
            "right_patient": df["id"].to_numpy()[maybe["j"].to_numpy()],
            "score": maybe["score"].to_numpy(),
            **{f"{fld}_level": maybe[fld].to_numpy() for fld in FIELDS}})
        review = review.sort_values(["score", "left_institution", "left_patient",
                                     "right_institution", "right_patient"],
                                    ascending=[False, True, True, True, True])
    return pseudo, review.reset_index(drop=True)


def mpi_dir(settings) -> Path:
    return Path(settings.records_dir) / "_mpi"


def resolve_identities(settings) -> dict[str, int]:
    """Link the Patient records of every store; rewrite the pseudonyms that change and
    write the review queue. Returns counts (records, pseudonyms, changed, review)."""
    records_dir = Path(settings.records_dir)
    df = load_patients(records_dir)
    d = mpi_dir(settings)
    decisions = _read_decisions(d / "decisions.csv")
    pseudo, review = link_frame(df, settings.pseudonym_key, decisions=decisions)
    changed = 0
    if len(df):
        df = df.assign(new=pseudo)
        diff = df[df["new"] != df["patient_id_regional"]]
        changed = len(diff)
        for inst, part in diff.groupby("institution", sort=True):
            with RecordStore.for_institution(records_dir, str(inst)) as st, st.batch():
                for pid, new in zip(part["id"], part["new"], strict=True):
                    body = st.get(f"Patient/{pid}")
                    if body is None:
                        continue
                    rec = json.loads(body)
                    rec["patient_id_regional"] = new
                    from features.records import canonical_json
                    st.upsert(f"Patient/{pid}", "Patient", canonical_json(rec))
    d.mkdir(parents=True, exist_ok=True)
    cols = ["left_institution", "left_patient", "right_institution", "right_patient",
            "score", *[f"{f}_level" for f in FIELDS]]
    tmp = d / ".review_queue.csv.tmp"
    (review if len(review) else pd.DataFrame(columns=cols)).to_csv(tmp, index=False)
    os.replace(tmp, d / "review_queue.csv")
    return {"records": len(df), "pseudonyms": len(set(pseudo)), "changed": changed,
            "review": len(review)}


__all__ = ["WEIGHTS", "UPPER", "LOWER", "load_patients", "prepare", "compare", "link_frame",
           "resolve_identities", "mpi_dir"]
