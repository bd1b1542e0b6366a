"""Scheduling: FHIR Appointments booked for referrals and consultations."""
