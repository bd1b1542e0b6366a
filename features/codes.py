"""Regional code tables: specialties, sub-specialties, ICD-10 (WHO) diagnoses, chapters.

The regional information standard (paper, layer 2) fixes one specialty list and one
diagnosis system (ICD-10, WHO edition, system ``http://hl7.org/fhir/sid/icd-10``).
Local department codes and local diagnosis codes are mapped to these at ingest.
"""

from __future__ import annotations

from dataclasses import dataclass

ICD10_SYSTEM = "http://hl7.org/fhir/sid/icd-10"
SPECIALTY_SYSTEM = "urn:regioncare:specialty"
SUB_SPECIALTY_SYSTEM = "urn:regioncare:sub-specialty"
TIER_SYSTEM = "urn:regioncare:institution-tier"
# Chinese resident identity card number (GB 11643-1999). OID of the national resident
# ID number identifier system as used in Chinese EHR standards (WS 363 / WS 445 family).
RESIDENT_ID_SYSTEM = "urn:oid:2.16.156.10011.1.1"
PRACTITIONER_ID_SYSTEM = "urn:regioncare:practitioner"
INSTITUTION_ID_SYSTEM = "urn:regioncare:institution"

# Regional specialty list -> sub-specialties.
SPECIALTIES: dict[str, list[str]] = {
    "cardiology": ["coronary_heart_disease", "heart_failure", "arrhythmia", "hypertension"],
    "endocrinology": ["diabetes", "thyroid", "obesity_metabolic"],
    "respiratory": ["copd", "asthma", "pulmonary_infection", "lung_nodule"],
    "neurology": ["stroke", "epilepsy", "neurodegenerative", "headache"],
    "nephrology": ["ckd", "dialysis", "glomerular"],
    "gastroenterology": ["liver", "ibd", "endoscopy"],
    "oncology": ["lung_cancer", "gi_cancer", "breast_cancer"],
    "orthopaedics": ["spine", "joint", "trauma"],
    "general_surgery": ["hepatobiliary", "hernia_abdominal", "breast_thyroid_surgery"],
    "paediatrics": ["neonatology", "paediatric_respiratory", "child_development"],
    "obstetrics_gynaecology": ["obstetrics", "gynaecology"],
    "psychiatry": ["depression_anxiety", "sleep"],
    "rheumatology": ["arthritis", "gout"],
    "general_practice": ["chronic_disease_management", "family_medicine"],
}
SPECIALIST_SPECIALTIES = [s for s in SPECIALTIES if s != "general_practice"]

SPECIALTY_ZH = {
    "cardiology": "心内科", "endocrinology": "内分泌科", "respiratory": "呼吸内科",
    "neurology": "神经内科", "nephrology": "肾内科", "gastroenterology": "消化内科",
    "oncology": "肿瘤科", "orthopaedics": "骨科", "general_surgery": "普外科",
    "paediatrics": "儿科", "obstetrics_gynaecology": "妇产科", "psychiatry": "精神心理科",
    "rheumatology": "风湿免疫科", "general_practice": "全科",
}

TITLES = ["resident", "attending", "associate_chief", "chief"]
TITLE_RANK = {t: i + 1 for i, t in enumerate(TITLES)}
TITLE_ZH = {"resident": "住院医师", "attending": "主治医师",
            "associate_chief": "副主任医师", "chief": "主任医师"}
TIER_NAMES = {"C": 1, "S": 2, "T": 3}
TIER_LABEL = {1: "community", 2: "secondary", 3: "tertiary"}
URGENCIES = ["routine", "urgent", "emergency"]
FHIR_PRIORITY = {"routine": "routine", "urgent": "urgent", "emergency": "stat"}
FHIR_PRIORITY_BACK = {"routine": "routine", "urgent": "urgent", "asap": "urgent",
                      "stat": "emergency"}


@dataclass(frozen=True)
class Diagnosis:
    code: str
    display: str
    specialty: str
    sub_specialty: str
    also: tuple[str, ...] = ()  # secondary specialties that also treat it
    chronic: bool = True
    charlson: int = 0  # Charlson-like weight (Charlson 1987, Quan 2011 ICD-10 coding)


_D = Diagnosis
DIAGNOSES: list[Diagnosis] = [
    _D("I10", "Essential (primary) hypertension", "cardiology", "hypertension"),
    _D("I11.9", "Hypertensive heart disease without heart failure", "cardiology",
       "hypertension"),
    _D("I20.9", "Angina pectoris, unspecified", "cardiology", "coronary_heart_disease"),
    _D("I25.1", "Atherosclerotic heart disease", "cardiology", "coronary_heart_disease",
       charlson=1),
    _D("I21.9", "Acute myocardial infarction, unspecified", "cardiology",
       "coronary_heart_disease", chronic=False, charlson=1),
    _D("I50.9", "Heart failure, unspecified", "cardiology", "heart_failure", charlson=1),
    _D("I48.9", "Atrial fibrillation and flutter, unspecified", "cardiology", "arrhythmia"),
    _D("E11.9", "Type 2 diabetes mellitus without complications", "endocrinology",
       "diabetes", charlson=1),
    _D("E11.2", "Type 2 diabetes mellitus with renal complications", "endocrinology",
       "diabetes", also=("nephrology",), charlson=2),
    _D("E10.9", "Type 1 diabetes mellitus without complications", "endocrinology",
       "diabetes", also=("paediatrics",), charlson=1),
    _D("E05.9", "Thyrotoxicosis, unspecified", "endocrinology", "thyroid"),
    _D("E03.9", "Hypothyroidism, unspecified", "endocrinology", "thyroid"),
    _D("E66.9", "Obesity, unspecified", "endocrinology", "obesity_metabolic"),
    _D("E78.5", "Hyperlipidaemia, unspecified", "endocrinology", "obesity_metabolic",
       also=("cardiology",)),
    _D("E04.1", "Nontoxic single thyroid nodule", "general_surgery",
       "breast_thyroid_surgery", also=("endocrinology",)),
    _D("J44.9", "Chronic obstructive pulmonary disease, unspecified", "respiratory", "copd",
       charlson=1),
    _D("J44.1", "COPD with acute exacerbation", "respiratory", "copd", chronic=False,
       charlson=1),
    _D("J45.9", "Asthma, unspecified", "respiratory", "asthma", also=("paediatrics",),
       charlson=1),
    _D("J18.9", "Pneumonia, unspecified", "respiratory", "pulmonary_infection",
       also=("paediatrics",), chronic=False),
    _D("R91", "Abnormal findings on diagnostic imaging of lung", "respiratory",
       "lung_nodule", also=("oncology",), chronic=False),
    _D("I63.9", "Cerebral infarction, unspecified", "neurology", "stroke", chronic=False,
       charlson=1),
    _D("I69.3", "Sequelae of cerebral infarction", "neurology", "stroke", charlson=1),
    _D("G40.9", "Epilepsy, unspecified", "neurology", "epilepsy", also=("paediatrics",)),
    _D("G20", "Parkinson disease", "neurology", "neurodegenerative"),
    _D("F03", "Unspecified dementia", "neurology", "neurodegenerative",
       also=("psychiatry",), charlson=1),
    _D("G43.9", "Migraine, unspecified", "neurology", "headache"),
    _D("N18.3", "Chronic kidney disease, stage 3", "nephrology", "ckd", charlson=2),
    _D("N18.5", "Chronic kidney disease, stage 5", "nephrology", "dialysis", charlson=2),
    _D("N04.9", "Nephrotic syndrome, unspecified", "nephrology", "glomerular",
       also=("paediatrics",)),
    _D("B18.1", "Chronic viral hepatitis B", "gastroenterology", "liver", charlson=1),
    _D("K74.6", "Other and unspecified cirrhosis of liver", "gastroenterology", "liver",
       charlson=3),
    _D("K51.9", "Ulcerative colitis, unspecified", "gastroenterology", "ibd"),
    _D("K25.9", "Gastric ulcer", "gastroenterology", "endoscopy", charlson=1),
    _D("K21.9", "Gastro-oesophageal reflux disease", "gastroenterology", "endoscopy"),
    _D("C34.9", "Malignant neoplasm of bronchus or lung", "oncology", "lung_cancer",
       also=("respiratory",), charlson=2),
    _D("C16.9", "Malignant neoplasm of stomach", "oncology", "gi_cancer",
       also=("gastroenterology", "general_surgery"), charlson=2),
    _D("C18.9", "Malignant neoplasm of colon", "oncology", "gi_cancer",
       also=("general_surgery",), charlson=2),
    _D("C22.0", "Liver cell carcinoma", "oncology", "gi_cancer",
       also=("gastroenterology",), charlson=2),
    _D("C50.9", "Malignant neoplasm of breast", "oncology", "breast_cancer",
       also=("general_surgery",), charlson=2),
    _D("M17.9", "Gonarthrosis, unspecified", "orthopaedics", "joint",
       also=("rheumatology",)),
    _D("M51.2", "Other specified intervertebral disc displacement", "orthopaedics",
       "spine"),
    _D("S72.0", "Fracture of neck of femur", "orthopaedics", "trauma", chronic=False),
    _D("M81.9", "Osteoporosis, unspecified", "orthopaedics", "joint",
       also=("endocrinology", "rheumatology")),
    _D("K80.2", "Calculus of gallbladder without cholecystitis", "general_surgery",
       "hepatobiliary", also=("gastroenterology",), chronic=False),
    _D("K40.9", "Unilateral inguinal hernia", "general_surgery", "hernia_abdominal",
       chronic=False),
    _D("K35.8", "Acute appendicitis, other and unspecified", "general_surgery",
       "hernia_abdominal", chronic=False),
    _D("J06.9", "Acute upper respiratory infection", "paediatrics",
       "paediatric_respiratory", chronic=False),
    _D("J21.9", "Acute bronchiolitis, unspecified", "paediatrics", "paediatric_respiratory",
       chronic=False),
    _D("P59.9", "Neonatal jaundice, unspecified", "paediatrics", "neonatology",
       chronic=False),
    _D("F84.0", "Childhood autism", "paediatrics", "child_development",
       also=("psychiatry",)),
    _D("O24.4", "Diabetes mellitus arising in pregnancy", "obstetrics_gynaecology",
       "obstetrics", also=("endocrinology",), chronic=False),
    _D("O13", "Gestational hypertension", "obstetrics_gynaecology", "obstetrics",
       also=("cardiology",), chronic=False),
    _D("N80.9", "Endometriosis, unspecified", "obstetrics_gynaecology", "gynaecology"),
    _D("D25.9", "Leiomyoma of uterus, unspecified", "obstetrics_gynaecology", "gynaecology"),
    _D("F32.9", "Depressive episode, unspecified", "psychiatry", "depression_anxiety"),
    _D("F41.1", "Generalized anxiety disorder", "psychiatry", "depression_anxiety"),
    _D("G47.0", "Disorders of initiating and maintaining sleep", "psychiatry", "sleep",
       also=("neurology",)),
    _D("M10.9", "Gout, unspecified", "rheumatology", "gout"),
    _D("M05.9", "Seropositive rheumatoid arthritis, unspecified", "rheumatology",
       "arthritis", also=("orthopaedics",), charlson=1),
    _D("M32.9", "Systemic lupus erythematosus, unspecified", "rheumatology", "arthritis",
       also=("nephrology",), charlson=1),
]
DIAGNOSIS_BY_CODE: dict[str, Diagnosis] = {d.code: d for d in DIAGNOSES}

# (first code, last code, roman numeral) of ICD-10 (WHO 2019) chapters.
_CHAPTERS = [
    ("A00", "B99", "I"), ("C00", "D48", "II"), ("D50", "D89", "III"), ("E00", "E90", "IV"),
    ("F00", "F99", "V"), ("G00", "G99", "VI"), ("H00", "H59", "VII"), ("H60", "H95", "VIII"),
    ("I00", "I99", "IX"), ("J00", "J99", "X"), ("K00", "K93", "XI"), ("L00", "L99", "XII"),
    ("M00", "M99", "XIII"), ("N00", "N99", "XIV"), ("O00", "O99", "XV"), ("P00", "P96", "XVI"),
    ("Q00", "Q99", "XVII"), ("R00", "R99", "XVIII"), ("S00", "T98", "XIX"),
    ("V01", "Y98", "XX"), ("Z00", "Z99", "XXI"), ("U00", "U99", "XXII"),
]


def normalise_icd10(code: str | None) -> str | None:
    """'i10', 'I10.X00', 'E11.900' -> WHO form ('I10', 'E11.9'); None if not ICD-10 shaped."""
    if not code:
        return None
    c = code.strip().upper().replace(" ", "")
    if len(c) < 3 or not c[0].isalpha() or not c[1:3].isdigit():
        return None
    head, _, tail = c.partition(".")
    if len(head) > 3:  # 'I109' -> 'I10.9'
        head, tail = head[:3], head[3:] + tail
    digits = "".join(ch for ch in tail[:1] if ch.isdigit())
    return f"{head}.{digits}" if digits else head


def icd10_chapter(code: str | None) -> str | None:
    """Roman numeral of the ICD-10 chapter of a code ('I10' -> 'IX')."""
    c = normalise_icd10(code)
    if c is None:
        return None
    key = c[:3]
    for lo, hi, chapter in _CHAPTERS:
        if lo <= key <= hi:
            return chapter
    return None


def comorbidity_flags(codes: list[str] | set[str]) -> dict[str, int]:
    """Flags of the five chronic groups used by the features (ICD-10 block ranges)."""
    blocks = {c[:3] for c in codes if c}
    return {
        "has_hypertension": int(any("I10" <= b <= "I15" for b in blocks)),
        "has_diabetes": int(any("E10" <= b <= "E14" for b in blocks)),
        "has_copd": int(any(b in ("J43", "J44") for b in blocks)),
        "has_chd": int(any("I20" <= b <= "I25" for b in blocks)),
        "has_ckd": int("N18" in blocks),
    }


def charlson_index(codes: list[str] | set[str]) -> int:
    """Charlson-like index: the sum over distinct groups of the table's weights."""
    seen: dict[str, int] = {}
    for c in codes:
        d = DIAGNOSIS_BY_CODE.get(c)
        if d and d.charlson:
            seen[d.sub_specialty] = max(seen.get(d.sub_specialty, 0), d.charlson)
    return sum(seen.values())


def is_chronic(code: str) -> bool:
    d = DIAGNOSIS_BY_CODE.get(code)
    return bool(d and d.chronic)


def age_band(age: int) -> str:
    if age >= 90:
        return "90+"
    lo = (age // 10) * 10
    return f"{lo}-{lo + 9}"
