"""The HIDDEN preference model of the synthetic region.

Who a referring doctor picks, whether the specialist accepts and whether the outcome is
good are drawn from this model. Only the synthesiser and evaluation (the "oracle") see it;
ingest never reads ``OUT/ground_truth/``.

utility(referral r, candidate c) =
      w_specialty   * affinity(diagnosis specialty, c.specialty)
    + w_sub         * [diagnosis sub-specialty == c.sub_specialty]
    + w_comorbidity * |patient comorbidity groups ∩ c.expertise| / |groups|
    + w_title       * (title_rank - 1) / 3 + w_experience * min(years, 30) / 30
    + w_tier        * (tier - 2)  (+ w_tier_urgent more for urgent/emergency)
    - w_distance    * km(patient home-region centroid, institution) / 10
    - w_wait        * expected_wait_days / 7   (x urgency multiplier)
    + w_continuity  * [patient was seen by c before]
    + c.quality     (practitioner-specific hidden quality, N(0, sigma_quality))

The chosen target is argmax(utility + Gumbel noise * choice_temperature), i.e. a
multinomial logit (McFadden 1974) over all specialist candidates above the origin tier.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from features.codes import DIAGNOSIS_BY_CODE, SPECIALIST_SPECIALTIES

COMORBIDITY_GROUPS = ["hypertension", "diabetes", "copd", "chd", "ckd"]


@dataclass(frozen=True)
class PreferenceWeights:
    # Specialty fit dominates: in Chinese two-way referral studies the wrong department
    # is the commonest cause of rejected/redirected referrals (assumption, scaled so a
    # specialty match outweighs ~100 km of travel).
    w_specialty: float = 3.0
    # Sub-specialty fit: tertiary hospitals run sub-specialty clinics (e.g. heart failure
    # clinic); a match matters but less than the department.
    w_sub: float = 1.2
    # Expertise with the patient's comorbidities (multimorbidity management).
    w_comorbidity: float = 0.8
    # Seniority: patients in China prefer "expert clinics" (associate chief/chief);
    # Yip et al. Lancet 2019 describe the pull of senior tertiary doctors.
    w_title: float = 0.6
    w_experience: float = 0.4
    # Tier: the siphon effect of tertiary hospitals (Yip et al. 2019; the reason for the
    # hierarchical medical system policy, State Council 2015 No. 70).
    w_tier: float = 0.35
    w_tier_urgent: float = 0.35
    # Distance: per 10 km (assumption: a 20 km trip costs as much as the whole resident ->
    # chief title range; ~60% of up-referrals stay in the home region, the rest cross to a
    # better-matched or more famous hospital).
    w_distance: float = 0.3
    # Expected waiting time: per week; urgent x2, emergency x4 (assumption).
    w_wait: float = 0.5
    wait_urgency: tuple[float, float, float] = (1.0, 2.0, 4.0)
    # Continuity of care (same specialist again) is valued by patients and doctors.
    w_continuity: float = 1.0
    # Spread of the practitioner-specific hidden quality.
    sigma_quality: float = 0.5
    # Scale of the Gumbel noise of the choice (1.0 = standard multinomial logit).
    choice_temperature: float = 1.0
    # Acceptance: sigmoid(accept_bias + accept_slope * fit - 0.05 * wait days); ~80%,
    # in line with reported up-referral acceptance in Chinese medical alliances
    # (assumption; published figures vary widely).
    accept_bias: float = -0.6
    accept_slope: float = 0.75
    # Good outcome: sigmoid(outcome_bias + outcome_slope * (fit + quality) - severity).
    outcome_bias: float = -1.0
    outcome_slope: float = 0.6
    outcome_severity: float = 0.25
    affinity_secondary: float = 0.5


WEIGHTS = PreferenceWeights()


def km(lat1: np.ndarray | float, lon1: np.ndarray | float,
       lat2: np.ndarray | float, lon2: np.ndarray | float) -> np.ndarray:
    """Great-circle distance (haversine), km."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dp = p2 - p1
    dl = np.radians(np.asarray(lon2) - np.asarray(lon1))
    a = np.sin(dp / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return 6371.0 * 2 * np.arcsin(np.sqrt(a))


def affinity(code: str, specialty: str, w: PreferenceWeights = WEIGHTS) -> float:
    d = DIAGNOSIS_BY_CODE.get(code)
    if d is None:
        return 0.0
    if d.specialty == specialty:
        return 1.0
    if specialty in d.also:
        return w.affinity_secondary
    return 0.0


@dataclass
class GroundTruth:
    """Everything the oracle needs, read from OUT/ground_truth/."""

    practitioners: pd.DataFrame  # index practitioner_id
    regions: pd.DataFrame  # index region
    referrals: pd.DataFrame  # columns truth_id, institution, source_id, ...
    weights: PreferenceWeights = WEIGHTS
    as_of: str = ""

    def lookup(self, rows: pd.DataFrame) -> pd.DataFrame:
        """Truth rows for referral rows given by truth_id, (institution, source_id) or the
        opaque referral_id (when load_ground_truth was given the pseudonym key)."""
        ref = self.referrals
        if "truth_id" in rows.columns:
            key, on = rows["truth_id"].astype(str), "truth_id"
        elif "source_id" in rows.columns and (
                "institution" in rows.columns or "origin_institution_id" in rows.columns):
            inst = rows["institution"] if "institution" in rows.columns else rows[
                "origin_institution_id"]
            key = inst.astype(str) + "|" + rows["source_id"].astype(str)
            ref = ref.assign(_k=ref["institution"] + "|" + ref["source_id"])
            on = "_k"
        elif "referral_id" in rows.columns and "referral_id" in ref.columns:
            key, on = rows["referral_id"].astype(str), "referral_id"
        else:
            raise KeyError("referral rows need truth_id, (institution, source_id) or "
                           "referral_id with a ground truth loaded with the pseudonym key")
        idx = pd.Index(ref[on])
        pos = idx.get_indexer(key)
        if (pos < 0).any():
            raise KeyError(f"{int((pos < 0).sum())} referral rows are not in the ground truth")
        return ref.iloc[pos].reset_index(drop=True)


_CODES = sorted(DIAGNOSIS_BY_CODE)
_CODE_IDX = {c: i for i, c in enumerate(_CODES)}
_SPECS = sorted({d.specialty for d in DIAGNOSIS_BY_CODE.values()} | set(SPECIALIST_SPECIALTIES)
                | {"general_practice"})
_SPEC_IDX = {s: i for i, s in enumerate(_SPECS)}


def _affinity_table(w: PreferenceWeights) -> np.ndarray:
    """[n_codes + 1, n_specialties + 1]; the last row/column is 'unknown' (0)."""
    a = np.zeros((len(_CODES) + 1, len(_SPECS) + 1))
    for c, i in _CODE_IDX.items():
        for s, j in _SPEC_IDX.items():
            a[i, j] = affinity(c, s, w)
    return a


def _group_bits(values) -> np.ndarray:
    """'hypertension|ckd' strings -> [n, 5] 0/1 matrix over COMORBIDITY_GROUPS."""
    out = np.zeros((len(values), len(COMORBIDITY_GROUPS)))
    col = {g: k for k, g in enumerate(COMORBIDITY_GROUPS)}
    for i, v in enumerate(values):
        if isinstance(v, str) and v:
            for g in v.split("|"):
                if g in col:
                    out[i, col[g]] = 1.0
    return out


def _components(ref: pd.DataFrame, cand: pd.DataFrame, regions: pd.DataFrame,
                w: PreferenceWeights) -> dict[str, np.ndarray]:
    """Utility components, each [n_referrals, n_candidates] (vectorised)."""
    n, m = len(ref), len(cand)
    codes = ref["diagnosis"].to_numpy()
    ci = np.array([_CODE_IDX.get(c, len(_CODES)) for c in codes], dtype=int)
    si = np.array([_SPEC_IDX.get(s, len(_SPECS)) for s in cand["specialty"]], dtype=int)
    spec_fit = _affinity_table(w)[ci][:, si]
    subs = sorted(set(cand["sub_specialty"].astype(str)))
    sub_idx = {s: k for k, s in enumerate(subs)}
    dx_sub = np.array([sub_idx.get(DIAGNOSIS_BY_CODE[c].sub_specialty, -1)
                       if c in DIAGNOSIS_BY_CODE else -2 for c in codes])
    c_sub = np.array([sub_idx[s] for s in cand["sub_specialty"].astype(str)])
    sub_fit = (dx_sub[:, None] == c_sub[None, :]).astype(float)
    g = _group_bits(list(ref["comorbidities"]))
    e = _group_bits(list(cand["expertise"]))
    ng = g.sum(axis=1, keepdims=True)
    comorb = np.divide(g @ e.T, ng, out=np.zeros((n, m)), where=ng > 0)
    title = ((cand["title_rank"].to_numpy() - 1) / 3.0)[None, :]
    exp = (np.minimum(cand["experience_years"].to_numpy(), 30) / 30.0)[None, :]
    urg_idx = ref["urgency"].map({"routine": 0, "urgent": 1, "emergency": 2}).to_numpy(
        dtype=int)
    tier = (cand["tier"].to_numpy() - 2.0)[None, :]
    tier_term = w.w_tier * tier + w.w_tier_urgent * (urg_idx > 0)[:, None] * tier
    reg = regions.loc[ref["home_region"].to_numpy()]
    dist = km(reg["lat"].to_numpy()[:, None], reg["lon"].to_numpy()[:, None],
              cand["lat"].to_numpy()[None, :], cand["lon"].to_numpy()[None, :])
    wait_mult = np.array(w.wait_urgency)[urg_idx][:, None]
    wait = cand["expected_wait_days"].to_numpy()[None, :] / 7.0 * wait_mult
    cont = np.zeros((n, m))
    col = {pid: k for k, pid in enumerate(cand.index)}
    for i, p in enumerate(ref["prior_practitioners"]):
        if isinstance(p, str) and p:
            for pid in p.split("|"):
                k = col.get(pid)
                if k is not None:
                    cont[i, k] = 1.0
    quality = cand["quality"].to_numpy()[None, :]
    return {
        "specialty": w.w_specialty * spec_fit,
        "sub_specialty": w.w_sub * sub_fit,
        "comorbidity": w.w_comorbidity * comorb,
        "seniority": np.broadcast_to(w.w_title * title + w.w_experience * exp, (n, m)),
        "tier": np.broadcast_to(tier_term, (n, m)),
        "distance": -w.w_distance * dist / 10.0,
        "wait": -w.w_wait * wait,
        "continuity": w.w_continuity * cont,
        "quality": np.broadcast_to(quality, (n, m)),
    }


def utility_matrix(ref: pd.DataFrame, cand: pd.DataFrame, regions: pd.DataFrame,
                   w: PreferenceWeights = WEIGHTS) -> np.ndarray:
    comps = _components(ref, cand, regions, w)
    return np.asarray(sum(comps.values()), dtype=float)


def fit_terms(ref: pd.DataFrame, cand: pd.DataFrame, regions: pd.DataFrame,
              w: PreferenceWeights = WEIGHTS) -> np.ndarray:
    """The clinical-fit part (specialty, sub-specialty, comorbidity, seniority, quality)."""
    c = _components(ref, cand, regions, w)
    return c["specialty"] + c["sub_specialty"] + c["comorbidity"] + c["seniority"] + c[
        "quality"]


def utility_and_fit(ref: pd.DataFrame, cand: pd.DataFrame, regions: pd.DataFrame,
                    w: PreferenceWeights = WEIGHTS) -> tuple[np.ndarray, np.ndarray]:
    """Both the utility and its clinical-fit part from one pass over the components."""
    c = _components(ref, cand, regions, w)
    fit = c["specialty"] + c["sub_specialty"] + c["comorbidity"] + c["seniority"] + c[
        "quality"]
    util = fit + c["tier"] + c["distance"] + c["wait"] + c["continuity"]
    return util, fit


def sigmoid(x: np.ndarray | float) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.asarray(x, dtype=float)))


def oracle_scores(truth: GroundTruth, referral_rows: pd.DataFrame,
                  candidate_ids: list[str]) -> np.ndarray:
    """Deterministic utility (no noise), shape [n_referrals, n_candidates].

    Candidates outside the referral's choice set (a specialist at a tier above the
    origin's, as the synthesiser draws them) score -inf: the oracle ranks what the
    referring doctor chose among.

    ``referral_rows`` identify referrals by ``truth_id``, by ``(institution |
    origin_institution_id, source_id)`` or by the opaque ``referral_id`` of the offline
    tables (then load the ground truth with ``load_ground_truth(dir, pseudonym_key=...)``).
    Unknown candidate ids score -inf.
    """
    ref = truth.lookup(referral_rows)
    known = [c for c in candidate_ids if c in truth.practitioners.index]
    out = np.full((len(ref), len(candidate_ids)), -np.inf)
    if not known or ref.empty:
        return out
    cand = truth.practitioners.loc[known]
    util = utility_matrix(ref, cand, truth.regions, truth.weights)
    eligible = choice_mask(cand, pd.to_numeric(ref["origin_tier"]).to_numpy()[:, None] + 1)
    pos = [candidate_ids.index(c) for c in known]
    out[:, pos] = np.where(eligible, util, -np.inf)
    return out


def weights_to_json(w: PreferenceWeights) -> str:
    return json.dumps(asdict(w), indent=2, sort_keys=True)


def load_ground_truth(directory: Path | str, *, pseudonym_key: str | None = None
                      ) -> GroundTruth:
    """Read OUT/ground_truth (or OUT itself). With the pseudonym key the referral truth
    also carries the opaque ``referral_id`` used by the offline tables."""
    d = Path(directory)
    if (d / "ground_truth").is_dir():
        d = d / "ground_truth"
    pr = pd.read_csv(d / "practitioners.csv", dtype={"practitioner_id": str,
                                                     "expertise": str})
    pr["expertise"] = pr["expertise"].fillna("")
    pr = pr.set_index("practitioner_id")
    regions = pd.read_csv(d / "regions.csv").set_index("region")
    ref = pd.read_csv(d / "referrals.csv", dtype=str, keep_default_na=False)
    raw = json.loads((d / "weights.json").read_text())
    raw["wait_urgency"] = tuple(raw["wait_urgency"])
    weights = PreferenceWeights(**raw)
    if pseudonym_key is not None:
        from features.offline import opaque_referral_id_from_key

        ref["referral_id"] = [opaque_referral_id_from_key(pseudonym_key, i, s)
                              for i, s in zip(ref["institution"], ref["source_id"],
                                              strict=True)]
    meta = json.loads((d / "meta.json").read_text()) if (d / "meta.json").exists() else {}
    return GroundTruth(pr, regions, ref, weights, str(meta.get("as_of", "")))


def choice_mask(practitioners: pd.DataFrame, min_tier: int | np.ndarray) -> np.ndarray:
    """The choice set of a referral: specialists at tier >= min_tier (all regions).
    ``min_tier`` is one tier, or [n_referrals, 1] for an [n_referrals, n] mask."""
    return ((practitioners["tier"].to_numpy() >= min_tier)
            & practitioners["specialty"].isin(SPECIALIST_SPECIALTIES).to_numpy())


def specialty_candidates(practitioners: pd.DataFrame, min_tier: int) -> pd.DataFrame:
    """The choice set for referrals from tier ``min_tier - 1``, sorted by id."""
    return practitioners[choice_mask(practitioners, min_tier)].sort_index()


def logit(p: float) -> float:
    return math.log(p / (1 - p))


def referral_truth_key(institution: str, source_id: str) -> str:
    """The ``truth_id`` of ground_truth/referrals.csv for a referral ``source_id`` sent by
    ``institution`` (the offline tables carry an opaque id instead; see
    ``features.offline.opaque_referral_id``)."""
    return f"{institution}|{source_id}"
