"""Supervision: the audit trail (FHIR AuditEvent) of every access to patient data."""
