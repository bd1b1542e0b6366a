"""Remote imaging centre: studies registered by reference, a cross-hospital reading
worklist, DiagnosticReports with critical findings, turnaround."""
