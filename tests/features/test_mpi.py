"""Master patient index: Fellegi-Sunter linking, blocking, review queue, decisions."""

from __future__ import annotations

import csv

import pandas as pd

from features.identity import regional_patient_id
from features.mpi import link_frame, mpi_dir, resolve_identities
from features.pinyin import pinyin_key
from features.records import RecordStore, list_stores

KEY = "test-pseudonym-key"
RID = "11010519491231002X"
RID2 = "110105194912310038"  # another valid ID (same birth date)

COLS = ["institution", "id", "resident_id", "name", "gender", "birthDate", "phone",
        "address", "district", "patient_id_regional"]


def frame(rows: list[dict]) -> pd.DataFrame:
    base = dict.fromkeys(COLS, None)
    return pd.DataFrame([{**base, **r} for r in rows], columns=COLS)


def person(inst: str, pid: str, **kw) -> dict:
    d = {"institution": inst, "id": pid, "name": "王秀英", "gender": "female",
         "birthDate": "1949-12-13", "phone": "13800001111",
         "address": "东城区人民路12号3栋402室", "district": "R1"}
    d.update(kw)
    return d


def test_pinyin_key_joins_characters_and_pinyin():
    assert pinyin_key("王秀英") == pinyin_key("Wang Xiuying") == "wangxiuying"
    assert pinyin_key("张 伟") == pinyin_key("ZHANG Wei")
    assert pinyin_key("李玲") != pinyin_key("李琳")  # ling / lin
    assert pinyin_key("张玮") == pinyin_key("张伟")  # homophone typo keeps the pinyin


def test_variants_of_one_person_link():
    df = frame([
        person("A", "1", resident_id=RID),
        person("B", "2", name="Wang Xiuying", phone=""),               # pinyin, no phone
        person("C", "3", birthDate="1949-12-31", address=""),          # transposed day
        person("D", "4", name="王绣英", phone="13900002222",             # typo, new phone,
               address="东城区人民路12号3栋"),                              # no flat number
    ])
    pseudo, review = link_frame(df, KEY)
    assert len(set(pseudo)) == 1
    # the person with a resident ID keeps the keyed pseudonym of the ID
    assert pseudo[0] == regional_patient_id(KEY, resident_id=RID)
    assert review.empty


def test_different_resident_ids_never_link():
    df = frame([person("A", "1", resident_id=RID), person("B", "2", resident_id=RID2)])
    pseudo, _ = link_frame(df, KEY)
    assert pseudo[0] != pseudo[1]


def test_chain_through_a_record_without_id_cannot_join_two_ids():
    df = frame([person("A", "1", resident_id=RID), person("B", "2"),
                person("C", "3", resident_id=RID2)])
    pseudo, _ = link_frame(df, KEY)
    assert pseudo[0] != pseudo[2]
    assert pseudo[1] in (pseudo[0], pseudo[2])


def test_namesakes_go_to_review_not_to_a_link():
    # Same name, birth date, sex and region, but another phone and no address: as often
    # two people as one who changed phone -> a possible match for a person to decide.
    df = frame([person("A", "1"), person("B", "2", phone="13900009999", address="")])
    pseudo, review = link_frame(df, KEY)
    assert pseudo[0] != pseudo[1]
    assert len(review) == 1
    r = review.iloc[0]
    assert (r["left_institution"], r["right_institution"]) == ("A", "B")
    assert r["name_level"] == "exact" and r["phone_level"] == "differ"
    # a reviewer's decisions are honoured on the next pass
    pseudo, review = link_frame(df, KEY, decisions=[
        {"left_institution": "A", "left_patient": "1", "right_institution": "B",
         "right_patient": "2", "decision": "match"}])
    assert pseudo[0] == pseudo[1] and review.empty
    pseudo, review = link_frame(df, KEY, decisions=[
        {"left_institution": "A", "left_patient": "1", "right_institution": "B",
         "right_patient": "2", "decision": "non-match"}])
    assert pseudo[0] != pseudo[1] and review.empty


def test_unrelated_people_do_not_link():
    df = frame([person("A", "1"),
                person("B", "2", name="李强", gender="male", birthDate="1980-03-04",
                       phone="13711112222", address="西城区解放路1号1栋101室"),
                person("C", "3", name="王秀英", birthDate="1975-06-02", phone="",
                       address="", district="R2")])
    pseudo, review = link_frame(df, KEY)
    assert len(set(pseudo)) == 3 and review.empty


def test_order_does_not_matter():
    rows = [person("A", "1", resident_id=RID), person("B", "2", name="Wang Xiuying"),
            person("C", "3", birthDate="1949-12-31", phone=""),
            person("D", "9", name="李强", gender="male")]
    p1, _ = link_frame(frame(rows), KEY)
    p2, _ = link_frame(frame(rows[::-1]), KEY)
    assert p1 == p2[::-1]


def test_resolve_identities_on_the_region(ingested):
    settings, report = ingested
    assert report.identities["records"] > report.identities["pseudonyms"]
    assert report.identities["changed"] > 0  # links the deterministic pass had missed
    again = resolve_identities(settings)  # a second pass over linked stores: a fixpoint
    assert again["changed"] == 0
    queue = mpi_dir(settings) / "review_queue.csv"
    with queue.open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == again["review"]
    # the queue names local record ids only, never names, phones or ID numbers
    names = set()
    for _, path in list_stores(settings.records_dir):
        with RecordStore(path) as st:
            names |= {p["name"] for p in st.patients(0, 10_000)}
    text = queue.read_text(encoding="utf-8")
    assert not any(n and n in text for n in names)
