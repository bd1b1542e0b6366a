"""Patients, registrations (with planted duplicates), conditions and referral history.

Generated in chunks of patients so that ``large`` (1M patients) streams to disk with
bounded memory: nothing here depends on other chunks except the per-institution id
counters passed in ``state``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import numpy as np
import pandas as pd

from features.codes import charlson_index, comorbidity_flags
from features.synth import names as nm
from features.synth.preference import (
    WEIGHTS,
    PreferenceWeights,
    sigmoid,
    specialty_candidates,
    utility_and_fit,
)
from features.synth.world import CST

# Age structure: 5-year bands 0-4 ... 95-99, 100+ (% of population), China 7th national
# census 2020 (NBS bulletin No. 5 and the census tables; 0-14 17.95%, 15-59 63.35%,
# 60+ 18.70%, 65+ 13.50%; ~119k centenarians).
AGE_BANDS_PCT = [5.5, 6.4, 6.0, 5.2, 5.3, 6.6, 8.8, 6.9, 6.6, 8.0, 8.6, 7.2, 5.2, 5.1, 3.5,
                 2.3, 1.5, 0.8, 0.3, 0.07, 0.01]
MALE_SHARE = 0.5124  # census 2020: 51.24% male

# Prevalence by age group [<18, 18-39, 40-59, 60-79, 80+] and a female multiplier.
#   I10  hypertension: China Hypertension Survey 2012-15 (Wang Z et al., Circulation 2018):
#        crude 27.9% of adults (weighted 23.2%), rising steeply with age.
#   E11  type 2 diabetes: 12.8% (ADA) / 11.2% (WHO) of adults (Li Y et al., BMJ 2020).
#   J44  COPD: 13.7% of adults aged >= 40 (Wang C et al., China Pulmonary Health study,
#        Lancet 2018).
#   N18  CKD: 10.8% of adults (Zhang L et al., Lancet 2012), coded here as stage 3.
#   J45  asthma: 4.2% of adults >= 20 (Huang K et al., Lancet 2019).
#   B18.1 chronic hepatitis B: HBsAg ~6% (Polaris Observatory 2018).
#   I25.1 CHD, I50.9 heart failure (~1.3%, Hao G et al. 2019), I48.9 AF, I69.3 stroke
#        sequelae (NESS-China 2013 ~1.1%), E78.5 dyslipidaemia, M17.9 knee OA (8.1%,
#        Tang X et al. 2016), M81.9 osteoporosis, M10.9 gout, E03.9, F32.9 (2.1% 12-month
#        MDD, Huang Y et al., Lancet Psychiatry 2019): shapes by age are assumptions.
CHRONIC_PREV: dict[str, tuple[list[float], float]] = {
    "I10": ([0.002, 0.08, 0.30, 0.55, 0.65], 0.9),
    "E11.9": ([0.001, 0.035, 0.12, 0.20, 0.20], 0.9),
    "E11.2": ([0.0, 0.003, 0.012, 0.03, 0.04], 0.9),
    "E10.9": ([0.001, 0.001, 0.001, 0.001, 0.001], 1.0),
    "J44.9": ([0.0, 0.01, 0.09, 0.20, 0.28], 0.5),
    "N18.3": ([0.001, 0.03, 0.08, 0.18, 0.30], 1.1),
    "J45.9": ([0.03, 0.03, 0.04, 0.05, 0.05], 1.0),
    "B18.1": ([0.005, 0.06, 0.07, 0.06, 0.04], 0.7),
    "I25.1": ([0.0, 0.002, 0.03, 0.10, 0.15], 0.8),
    "I50.9": ([0.0, 0.001, 0.005, 0.02, 0.05], 1.0),
    "I48.9": ([0.0, 0.001, 0.005, 0.03, 0.08], 0.9),
    "I69.3": ([0.0, 0.001, 0.01, 0.04, 0.07], 0.8),
    "E78.5": ([0.005, 0.08, 0.20, 0.30, 0.30], 1.0),
    "M17.9": ([0.0, 0.01, 0.08, 0.20, 0.30], 1.5),
    "M81.9": ([0.0, 0.0, 0.03, 0.18, 0.30], 2.0),
    "M10.9": ([0.0, 0.01, 0.02, 0.03, 0.03], 0.3),
    "E03.9": ([0.002, 0.01, 0.02, 0.03, 0.03], 3.0),
    "F32.9": ([0.005, 0.02, 0.02, 0.02, 0.02], 1.5),
}
CHILD_ACUTE = ["J06.9", "J18.9", "J45.9", "F84.0", "G40.9", "E10.9", "N04.9"]
INFANT_ACUTE = ["J21.9", "P59.9", "J06.9"]
ADULT_ACUTE = ["I21.9", "I63.9", "J18.9", "R91", "C34.9", "C16.9", "C18.9", "C22.0", "K80.2",
               "K35.8", "M51.2", "E05.9", "E04.1", "K25.9", "K21.9", "K51.9", "G43.9",
               "F41.1", "G47.0", "M05.9", "I50.9", "I20.9", "K74.6", "N18.5", "E11.2",
               "M10.9"]
FEMALE_ACUTE = ["C50.9", "M32.9", "N80.9", "D25.9"]
PREGNANCY = ["O24.4", "O13"]
OLD_ACUTE = ["S72.0", "G20", "F03"]
EMERGENCY_PRONE = {"I21.9", "I63.9", "S72.0", "K35.8", "J44.1"}
CANCER = {"C34.9", "C16.9", "C18.9", "C22.0", "C50.9"}
GROUP_OF = {"has_hypertension": "hypertension", "has_diabetes": "diabetes",
            "has_copd": "copd", "has_chd": "chd", "has_ckd": "ckd"}
# Referral volume: ~2 referrals per patient over the two years of history, scaled by
# chronic burden. This is an assumption calibrated to the brief's volumes; published
# up-referral rates (e.g. ~5-10% of primary-care visits in Chinese medical alliances)
# apply to visits, and the exported patients are the ones who use services.
REFERRALS_PER_PATIENT = 2.0
HISTORY_DAYS = 730


@dataclass
class Counters:
    """Per-institution id counters carried across chunks."""

    mrn: dict[str, int] = field(default_factory=dict)
    dx: dict[str, int] = field(default_factory=dict)
    sr: dict[str, int] = field(default_factory=dict)
    rid: dict[str, int] = field(default_factory=dict)  # (area, birth, sex) -> IDs issued
    ap: dict[str, int] = field(default_factory=dict)  # appointments

    def next(self, kind: str, inst: str) -> int:
        d = getattr(self, kind)
        d[inst] = d.get(inst, 0) + 1
        return d[inst]


def compact(inst: str) -> str:
    return inst.replace("-", "")


def mrn_format(inst: str, n: int) -> str:
    """Institution-specific MRN shapes (each HIS numbers its patients its own way)."""
    style = sum(map(ord, inst)) % 3
    if style == 0:
        return f"{compact(inst)}{n:07d}"
    if style == 1:
        return f"MZ{n:08d}"
    return f"{900000 + n}"


@dataclass
class Chunk:
    persons: pd.DataFrame
    registrations: pd.DataFrame
    conditions: pd.DataFrame
    referrals: pd.DataFrame
    appointments: pd.DataFrame = field(default_factory=pd.DataFrame)


def _ages(rng: np.random.Generator, n: int) -> np.ndarray:
    p = np.array(AGE_BANDS_PCT) / sum(AGE_BANDS_PCT)
    band = rng.choice(len(p), size=n, p=p)
    age = band * 5 + rng.integers(0, 5, size=n)
    age[band == len(p) - 1] = 100 + rng.integers(0, 5, size=(band == len(p) - 1).sum())
    # A few very old patients even in tiny regions (de-identification must band them).
    k = max(3, n // 1000)
    idx = rng.choice(n, size=min(k, n), replace=False)
    age[idx] = rng.integers(90, 105, size=len(idx))
    return age.astype(int)


def _birth(rng: np.random.Generator, age: int, as_of: date) -> date:
    days = int(rng.integers(0, 365))
    d = date(as_of.year - age, as_of.month, min(as_of.day, 28)) - timedelta(days=days)
    return d


def _working_hours(t: datetime, rng: np.random.Generator) -> datetime:
    """Move a decision/closure time outside 08:00-18:00 to the next morning."""
    if 8 <= t.hour < 18:
        return t.replace(microsecond=0)
    day = t.date() if t.hour < 8 else t.date() + timedelta(days=1)
    return datetime(day.year, day.month, day.day, 8, 0, tzinfo=t.tzinfo) + timedelta(
        minutes=int(rng.integers(0, 180)))


def _drift_contacts(pr: dict, inst: str) -> tuple[str, str]:
    """(phone, address) as a second institution registers them: 10% no phone, 10% a
    new phone, 15% no address, 15% the address without the flat number."""
    seed = int(hashlib.sha256(f"{pr['person_id']}|{inst}".encode()).hexdigest()[:15], 16)
    side = np.random.default_rng(seed)
    u = side.random(2)
    phone, address = pr["phone"], pr["address"]
    if u[0] < 0.10:
        phone = ""
    elif u[0] < 0.20:
        phone = nm.phone(side)
    if u[1] < 0.15:
        address = ""
    elif u[1] < 0.30:
        address = address.split("栋")[0] + "栋"
    return phone, address


def _group_idx(age: int) -> int:
    return 0 if age < 18 else 1 if age < 40 else 2 if age < 60 else 3 if age < 80 else 4


def make_chunk(rng: np.random.Generator, start: int, n: int, *, as_of: date,
               regions: pd.DataFrame, institutions: pd.DataFrame,
               practitioners: pd.DataFrame, counters: Counters,
               weights: PreferenceWeights = WEIGHTS,
               appointment_rng: np.random.Generator | None = None) -> Chunk:
    reg_rows = {r["region"]: r for r in regions.to_dict("records")}
    inst_by_region: dict[str, dict[int, list[str]]] = {}
    for r in institutions.itertuples():
        inst_by_region.setdefault(r.region, {}).setdefault(r.tier, []).append(r.institution)
    inst_tier = dict(zip(institutions["institution"], institutions["tier"], strict=True))
    inst_region = dict(zip(institutions["institution"], institutions["region"], strict=True))
    gps: dict[str, list[str]] = {}
    for p in practitioners.itertuples():
        gps.setdefault(p.institution, []).append(p.practitioner_id)
    as_of_dt = datetime(as_of.year, as_of.month, as_of.day, tzinfo=CST)

    ages = _ages(rng, n)
    male = rng.random(n) < MALE_SHARE
    home = rng.choice(regions["region"].to_numpy(), size=n)
    frailty = rng.normal(0, 1, size=n)

    persons: list[dict] = []
    regs: list[dict] = []
    conds: list[dict] = []
    refs: list[dict] = []
    person_conditions: list[list[tuple[str, date]]] = []
    reg_index: dict[tuple[str, str], str] = {}  # (person, inst) -> local id

    def register(pi: int, inst: str, when: date, perturb: bool) -> str:
        pr = persons[pi]
        key = (pr["person_id"], inst)
        if key in reg_index:
            return reg_index[key]
        local = mrn_format(inst, counters.next("mrn", inst))
        name, birth, rid = pr["name"], pr["birth_date"], pr["resident_id"]
        if perturb:
            u = rng.random(4)
            if u[0] < 0.30:
                rid = ""
            if u[1] < 0.10:
                name = nm.typo_name(rng, name)
            elif u[1] < 0.15:
                name = pr["name_pinyin"]
            if u[2] < 0.06:
                birth = nm.transpose_birth(birth) or birth
            # Contact details drift between registrations (a new phone, none given, an
            # address written differently). A side generator keyed on (person,
            # institution) keeps the main random stream, so everything else is unchanged.
            phone, address = _drift_contacts(pr, inst)
        else:
            if rng.random() < 0.03:
                rid = ""
            phone, address = pr["phone"], pr["address"]
        regs.append({
            "institution": inst, "local_id": local, "person_id": pr["person_id"], "name": name,
            "gender": pr["gender"], "birth_date": birth, "resident_id": rid, "phone": phone,
            "address": address, "region": pr["home_region"], "registered": max(when, pr[
                "birth_date"])})
        reg_index[key] = local
        return local

    for i in range(n):
        age = int(ages[i])
        birth = _birth(rng, age, as_of)
        reg = reg_rows[home[i]]
        zh, py = nm.person_name(rng, bool(male[i]))
        pid = f"P{start + i:07d}"
        persons.append({
            "person_id": pid, "gender": "male" if male[i] else "female", "birth_date": birth,
            "age": age,
            "home_region": home[i], "name": zh, "name_pinyin": py,
            "resident_id": nm.resident_id(str(reg["area"]), birth, counters.next(
                "rid", f"{reg['area']}{birth:%Y%m%d}{int(male[i])}") - 1, bool(male[i])),
            "phone": nm.phone(rng), "address": nm.address(rng, str(reg["name_zh"]))})
        tiers = inst_by_region[home[i]]
        primary = (tiers[1][int(rng.integers(len(tiers[1])))] if rng.random() < 0.75
                   else tiers[2][int(rng.integers(len(tiers[2])))])
        persons[-1]["primary"] = primary
        reg_days = int(rng.integers(180, 3650))
        local = register(i, primary, as_of - timedelta(days=reg_days), perturb=False)
        # Chronic conditions (latent frailty correlates them).
        g = _group_idx(age)
        mine: list[tuple[str, date]] = []
        for code, (prev, fem) in CHRONIC_PREV.items():
            p = prev[g] * (fem if not male[i] else 1.0)
            if p <= 0:
                continue
            p = float(sigmoid(np.log(p / (1 - min(p, 0.95))) + 0.6 * frailty[i]))
            if rng.random() < p:
                span = max(30, min(age * 365 - 30, 15 * 365))
                onset = as_of - timedelta(days=int(rng.integers(30, span + 1)))
                mine.append((code, max(onset, birth)))
        person_conditions.append(mine)
        for code, onset in mine:
            conds.append({"institution": primary, "local_id": local,
                              "condition_id": f"DX-{compact(primary)}-"
                                           f"{counters.next('dx', primary):07d}",
                              "code": code, "onset": onset})
        # Walk-in registration elsewhere in the home region (duplicates).
        if rng.random() < 0.06:
            others = [x for t in (3, 2, 1) for x in tiers[t] if x != primary]
            other = others[int(rng.integers(len(others)))]
            register(i, other, as_of - timedelta(days=int(rng.integers(30, 1500))),
                     perturb=True)

    # Referral counts.
    n_chronic = np.array([len(c) for c in person_conditions])
    lam = 0.4 + n_chronic + 0.3 * (ages >= 60)
    lam = lam * (REFERRALS_PER_PATIENT / max(lam.mean(), 1e-9))
    counts = rng.poisson(lam)
    ref_rows = []
    for i in range(n):
        k = int(counts[i])
        if k == 0:
            continue
        offs = np.sort(rng.integers(4 * 24 * 60, HISTORY_DAYS * 24 * 60, size=k))[::-1]
        for o in offs:
            authored = as_of_dt - timedelta(minutes=int(o))
            authored = authored.replace(hour=int(rng.integers(8, 17)),
                                        minute=int(rng.integers(0, 60)), second=0)
            ref_rows.append((i, authored))
    # Diagnoses and urgency.
    for i, authored in ref_rows:
        pr = persons[i]
        age = pr["age"] - (as_of - authored.date()).days // 365
        chronic_now = [c for c, d in person_conditions[i] if d <= authored.date()]
        if chronic_now and rng.random() < 0.6:
            dx = chronic_now[int(rng.integers(len(chronic_now)))]
            if dx == "J44.9" and rng.random() < 0.4:
                dx = "J44.1"
        else:
            if age < 1:
                pool = INFANT_ACUTE
            elif age < 14:
                pool = CHILD_ACUTE
            else:
                pool = list(ADULT_ACUTE)
                if pr["gender"] == "female":
                    pool += FEMALE_ACUTE
                    if 20 <= age <= 42:
                        pool += PREGNANCY * 3
                if age >= 65:
                    pool += OLD_ACUTE * 2
            dx = pool[int(rng.integers(len(pool)))]
        if dx in EMERGENCY_PRONE:
            pu = [0.1, 0.4, 0.5]
        elif dx in CANCER:
            pu = [0.4, 0.55, 0.05]
        else:
            pu = [0.8, 0.17, 0.03]
        urgency = ["routine", "urgent", "emergency"][int(rng.choice(3, p=pu))]
        origin = pr["primary"]
        o_local = reg_index[(pr["person_id"], origin)]
        if dx not in [c for c, _ in person_conditions[i]]:
            onset = authored.date() - timedelta(days=int(rng.integers(0, 10)))
            person_conditions[i].append((dx, onset))
            conds.append({"institution": origin, "local_id": o_local,
                              "condition_id": f"DX-{compact(origin)}-"
                                           f"{counters.next('dx', origin):07d}",
                              "code": dx, "onset": onset})
        codes_now = [c for c, d in person_conditions[i] if d <= authored.date()]
        flags = comorbidity_flags(codes_now)
        groups = "|".join(GROUP_OF[k] for k, v in flags.items() if v)
        refs.append({
            "person_index": i, "person_id": pr["person_id"], "institution": origin,
            "local_id": o_local,
            "origin_tier": inst_tier[origin], "home_region": pr["home_region"], "diagnosis": dx,
            "urgency": urgency, "authored": authored, "comorbidities": groups,
            "charlson": charlson_index(codes_now),
            "requester": (gps.get(origin) or [""])[int(rng.integers(max(1, len(gps.get(
                origin, [])))))]})
    ref_df = pd.DataFrame(refs)
    if ref_df.empty:
        return Chunk(pd.DataFrame(persons), pd.DataFrame(regs), pd.DataFrame(conds),
                     ref_df)
    ref_df = ref_df.sort_values(["person_index", "authored"], kind="stable").reset_index(
        drop=True)
    ref_df["round"] = ref_df.groupby("person_index").cumcount()
    pr_idx = practitioners.set_index("practitioner_id")
    cands = {t: specialty_candidates(pr_idx, t) for t in (2, 3)}
    prior: dict[int, list[str]] = {}
    chosen = np.empty(len(ref_df), dtype=object)
    u_chosen = np.zeros(len(ref_df))
    fit_chosen = np.zeros(len(ref_df))
    accepted = np.zeros(len(ref_df), dtype=bool)
    regions_idx = regions.set_index("region")
    for rnd in range(int(ref_df["round"].max()) + 1):
        for tier_min in (2, 3):
            sel = np.flatnonzero((ref_df["round"].to_numpy() == rnd)
                                 & (ref_df["origin_tier"].to_numpy() + 1 == tier_min))
            if len(sel) == 0:
                continue
            cand = cands[tier_min]
            # ~1M cells per batch keeps the [referrals x candidates] matrices ~8 MB each.
            step = max(50, 1_000_000 // max(1, len(cand)))
            for b in range(0, len(sel), step):
                part = sel[b:b + step]
                sub = ref_df.iloc[part].copy()
                sub["prior_practitioners"] = ["|".join(prior.get(int(pi), []))
                                              for pi in sub["person_index"]]
                util, fit = utility_and_fit(sub, cand, regions_idx, weights)
                noise = rng.gumbel(size=util.shape) * weights.choice_temperature
                pick = np.argmax(util + noise, axis=1)
                rows = np.arange(len(part))
                chosen[part] = cand.index.to_numpy()[pick]
                u_chosen[part] = util[rows, pick]
                fit_chosen[part] = fit[rows, pick]
                wait = cand["expected_wait_days"].to_numpy()[pick]
                p_acc = sigmoid(weights.accept_bias + weights.accept_slope * fit[rows, pick]
                                - 0.05 * wait)
                acc = rng.random(len(part)) < p_acc
                accepted[part] = acc
                for j, pi in enumerate(sub["person_index"]):
                    if acc[j]:
                        prior.setdefault(int(pi), []).append(str(chosen[part[j]]))
                ref_df.loc[ref_df.index[part], "prior_practitioners"] = sub[
                    "prior_practitioners"].to_numpy()
    ref_df["target"] = chosen
    ref_df["utility"] = np.round(u_chosen, 6)
    ref_df["accepted"] = accepted
    # Timing, status and outcome.
    out_status: list[str] = []
    out_outcome: list[str | None] = []
    decision: list[datetime] = []
    visit: list[datetime | None] = []
    booked: list[datetime | None] = []  # when the visit was booked (the acceptance)
    target_local: list[str | None] = []
    sids: list[str] = []
    p_wait = pr_idx["expected_wait_days"].to_dict()
    p_inst = pr_idx["institution"].to_dict()
    for j, r in enumerate(ref_df.itertuples()):
        delay = timedelta(hours=float(rng.uniform(2, 72)))
        dec = _working_hours(r.authored + delay, rng)
        sid = f"SR-{compact(r.institution)}-{counters.next('sr', r.institution):07d}"
        sids.append(sid)
        if not r.accepted:
            out_status.append("declined")
            out_outcome.append(None)
            decision.append(dec)
            visit.append(None)
            booked.append(None)
            target_local.append(None)
            continue
        mult = {"routine": 1.0, "urgent": 0.4, "emergency": 0.08}[r.urgency]
        wait_days = float(p_wait[r.target]) * mult * float(rng.gamma(3, 1 / 3))
        # The visit is a 30-minute clinic slot (08:00-11:30 or 13:00-16:30 local time) on
        # the first working day after the wait, and never before the decision.
        day = (r.authored + timedelta(days=wait_days)).date()
        if day <= dec.date():
            day = dec.date() + timedelta(days=1) if r.urgency != "emergency" else dec.date()
        while day.weekday() >= 5 and r.urgency != "emergency":
            day += timedelta(days=1)
        half = int(rng.integers(0, 16))
        hour, minute = (8 + half // 2, 30 * (half % 2)) if half < 8 else (
            13 + (half - 8) // 2, 30 * (half % 2))
        v = datetime(day.year, day.month, day.day, hour, minute, tzinfo=CST)
        if v < dec:
            v = dec.replace(second=0, microsecond=0) + timedelta(minutes=30)
        visit.append(v)
        booked.append(dec)
        done = _working_hours(v + timedelta(days=float(rng.uniform(1, 14))), rng)
        if done < as_of_dt:
            good = rng.random() < sigmoid(weights.outcome_bias + weights.outcome_slope
                                          * fit_chosen[j]
                                          - weights.outcome_severity * r.charlson)
            out_status.append("completed")
            out_outcome.append("good" if good else "poor")
            decision.append(done)
        else:
            out_status.append("accepted")
            out_outcome.append(None)
            decision.append(dec)
        # The patient registers at the receiving institution (a new local record).
        target_inst = str(p_inst[r.target])
        t_local = register(int(r.person_index), target_inst, v.date(), perturb=True)
        target_local.append(t_local)
        conds.append({"institution": target_inst, "local_id": t_local,
                          "condition_id": f"DX-{compact(target_inst)}-"
                                       f"{counters.next('dx', target_inst):07d}",
                          "code": r.diagnosis, "onset": v.date()})
    ref_df["source_id"] = sids
    ref_df["status"] = out_status
    ref_df["outcome"] = out_outcome
    ref_df["decision"] = decision
    ref_df["visit"] = visit
    ref_df["target_institution"] = [str(p_inst[t]) for t in ref_df["target"]]
    ref_df["target_region"] = [inst_region[t] for t in ref_df["target_institution"]]
    ref_df["booked"] = booked
    ref_df["target_local"] = target_local
    appts = pd.DataFrame()
    if appointment_rng is not None:
        from features.synth.appointments import make_appointments

        appts = make_appointments(appointment_rng, ref_df, persons, as_of_dt=as_of_dt,
                                  regions=regions, institutions=institutions,
                                  practitioners=practitioners, counters=counters)
    return Chunk(pd.DataFrame(persons), pd.DataFrame(regs), pd.DataFrame(conds), ref_df,
                 appts)
