"""Two-way referral: a FHIR ServiceRequest with its Task, and the recommendations for it."""
