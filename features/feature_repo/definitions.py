"""Feast definitions for referral matching and specialist scheduling.

File sources use paths relative to the Feast repo path (``settings.feast_dir``), where
``features.offline`` writes the de-identified parquet tables; nothing here reads settings,
so ``feast`` itself (``feast ui``, ``feast apply``) can import this module as it is.
"""

from datetime import timedelta

from feast import Entity, FeatureService, FeatureView, Field, FileSource, PushSource, ValueType
from feast.types import Float32, Int64, String, UnixTimestamp

# A patient, known region-wide only by the pseudonym from identity linking.
patient = Entity(
    name="patient",
    join_keys=["patient_id"],
    value_type=ValueType.STRING,
    description="Regional pseudonymous patient id (keyed HMAC; no direct identifier)",
)

# A practitioner who can receive referrals or consultations.
practitioner = Entity(
    name="practitioner",
    join_keys=["practitioner_id"],
    value_type=ValueType.STRING,
    description="Regional practitioner id, e.g. PR-R1T1-0007",
)

# A member institution of the alliance.
institution = Entity(
    name="institution",
    join_keys=["institution_id"],
    value_type=ValueType.STRING,
    description="Institution code, e.g. R1-T1 (region, tier letter, number)",
)

# A regional specialty code (e.g. cardiology); for browsing and future per-specialty views.
specialty = Entity(
    name="specialty",
    join_keys=["specialty"],
    value_type=ValueType.STRING,
    description="Regional specialty code, e.g. cardiology, general_practice",
)

# A region of the alliance (a prefecture or district with its own centroid).
region = Entity(
    name="region",
    join_keys=["region"],
    value_type=ValueType.STRING,
    description="Region code, e.g. R1",
)

# De-identified patient profile rows, one per change of the cumulative profile.
patient_profile_source = FileSource(
    name="patient_profile_source",
    path="data/patients.parquet",
    timestamp_field="event_timestamp",
)

# Who has taken each patient on: one row per accepted referral, at its decision time.
patient_continuity_source = FileSource(
    name="patient_continuity_source",
    path="data/continuity.parquet",
    timestamp_field="event_timestamp",
)

# Practitioner snapshots; statistics use only referrals decided before each snapshot.
practitioner_profile_source = FileSource(
    name="practitioner_profile_source",
    path="data/practitioners.parquet",
    timestamp_field="event_timestamp",
)

# Institution snapshots: tier, region and location.
institution_source = FileSource(
    name="institution_source",
    path="data/institutions.parquet",
    timestamp_field="event_timestamp",
)

# Availability snapshots derived from the slots table (features.store writes the file).
practitioner_availability_source = FileSource(
    name="practitioner_availability_source",
    path="data/availability.parquet",
    timestamp_field="event_timestamp",
    description="Per-practitioner slot availability, rebuilt from slots.parquet",
)

# Bookings, cancellations and slot changes pushed by the API (features.push.push_booking).
practitioner_availability_push = PushSource(
    name="practitioner_availability_push",
    batch_source=practitioner_availability_source,
    description="Live availability after a booking, cancellation or slot change",
)

# Clinical profile of a patient as of a point in time.
patient_profile_fv = FeatureView(
    name="patient_profile_fv",
    entities=[patient],
    ttl=timedelta(0),
    schema=[
        Field(name="age_years", dtype=Int64, description="Age in years, capped at 90"),
        Field(name="age_band", dtype=String, description="Ten-year age band; 90+ above 89"),
        Field(name="sex", dtype=String, description="male | female | unknown"),
        Field(name="home_region", dtype=String, description="Region code of residence"),
        Field(name="n_conditions", dtype=Int64, description="Distinct ICD-10 conditions so far"),
        Field(name="n_chronic", dtype=Int64, description="Chronic conditions so far"),
        Field(name="has_hypertension", dtype=Int64, description="I10-I15 recorded"),
        Field(name="has_diabetes", dtype=Int64, description="E10-E14 recorded"),
        Field(name="has_copd", dtype=Int64, description="J44 recorded"),
        Field(name="has_chd", dtype=Int64, description="I20-I25 recorded"),
        Field(name="has_ckd", dtype=Int64, description="N18 recorded"),
        Field(name="comorbidity_index", dtype=Int64, description="Charlson-like index"),
        Field(name="prior_referrals", dtype=Int64, description="Referrals before this one"),
    ],
    source=patient_profile_source,
    online=True,
    description="Patient clinical profile for referral matching",
)

# What a referring doctor would want to know about a practitioner.
practitioner_profile_fv = FeatureView(
    name="practitioner_profile_fv",
    entities=[practitioner],
    ttl=timedelta(0),
    schema=[
        Field(name="institution_id", dtype=String, description="Employing institution"),
        Field(name="specialty", dtype=String, description="Regional specialty code"),
        Field(name="sub_specialty", dtype=String, description="Regional sub-specialty code"),
        Field(name="title_rank", dtype=Int64, description="1 resident .. 4 chief physician"),
        Field(name="experience_years", dtype=Int64, description="Years in practice"),
        Field(name="tier", dtype=Int64, description="Institution tier: 1 community, 3 tertiary"),
        Field(name="region", dtype=String, description="Region of the institution"),
        Field(name="lat", dtype=Float32, description="Institution latitude"),
        Field(name="lon", dtype=Float32, description="Institution longitude"),
        Field(name="n_languages", dtype=Int64, description="Languages spoken"),
        Field(name="referrals_received_365d", dtype=Int64, description="Referrals in 365 days"),
        Field(name="acceptance_rate", dtype=Float32, description="Smoothed share accepted"),
        Field(name="good_outcome_rate", dtype=Float32, description="Smoothed good outcomes"),
        Field(name="mean_wait_days", dtype=Float32, description="Mean referral-to-visit days"),
        Field(name="weekly_capacity", dtype=Float32, description="Clinic slots per week"),
        Field(name="next_free_slot", dtype=UnixTimestamp, description="Earliest free slot"),
    ],
    source=practitioner_profile_source,
    online=True,
    description="Practitioner profile and referral history statistics",
)

# Live slot availability of a practitioner: materialised from slots, then pushed on change.
practitioner_availability_fv = FeatureView(
    name="practitioner_availability_fv",
    entities=[practitioner],
    ttl=timedelta(0),
    schema=[
        Field(name="next_open_slot", dtype=UnixTimestamp,
              description="Start of the earliest free slot from now on (null: none known); "
                          "live, supersedes practitioner_profile_fv.next_free_slot"),
        Field(name="free_slots_14d", dtype=Int64,
              description="Free slots starting in the next 14 days"),
        Field(name="booked_14d", dtype=Int64,
              description="Booked (busy) slots starting in the next 14 days"),
    ],
    source=practitioner_availability_push,
    online=True,
    description="Slot availability, fresh within seconds of a booking or cancellation",
)

# Institution capacity and location.
institution_fv = FeatureView(
    name="institution_fv",
    entities=[institution],
    ttl=timedelta(0),
    schema=[
        Field(name="tier", dtype=Int64, description="1 community, 2 secondary, 3 tertiary"),
        Field(name="region", dtype=String, description="Region code"),
        Field(name="lat", dtype=Float32, description="Latitude"),
        Field(name="lon", dtype=Float32, description="Longitude"),
        Field(name="n_practitioners", dtype=Int64, description="Practitioners on staff"),
    ],
    source=institution_source,
    online=True,
    description="Institution tier, capacity and location",
)

# Continuity of care, read online by the referral ranker's serving (training derives the
# same lists point in time from the referrals table, so the service leaves it out of the
# training join: on `large` it cost 70 s of a 15-minute budget).
patient_continuity_fv = FeatureView(
    name="patient_continuity_fv",
    entities=[patient],
    ttl=timedelta(0),
    schema=[
        Field(name="seen_practitioners", dtype=String,
              description="Specialists who accepted the patient's referrals, latest first, "
                          "at most 8, '|'-joined"),
    ],
    source=patient_continuity_source,
    online=True,
    description="Specialists who have taken the patient on (continuity of care)",
)

# What the referral ranker reads, in training and in serving.
referral_matching_v1 = FeatureService(
    name="referral_matching_v1",
    features=[patient_profile_fv, practitioner_profile_fv, practitioner_availability_fv],
    description="Features of the referral-matching model",
)

# What the specialist scheduler reads (the patient profile for no-show and duration).
specialist_scheduling_v1 = FeatureService(
    name="specialist_scheduling_v1",
    features=[patient_profile_fv, practitioner_profile_fv, practitioner_availability_fv,
              institution_fv],
    description="Features of the specialist-scheduling model",
)

ALL = [
    patient,
    practitioner,
    institution,
    specialty,
    region,
    patient_profile_source,
    patient_continuity_source,
    practitioner_profile_source,
    institution_source,
    practitioner_availability_source,
    practitioner_availability_push,
    patient_profile_fv,
    patient_continuity_fv,
    practitioner_profile_fv,
    practitioner_availability_fv,
    institution_fv,
    referral_matching_v1,
    specialist_scheduling_v1,
]
