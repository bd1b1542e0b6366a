"""FHIR R4 export of the resources the platform holds."""
