"""Remote teaching: courses, live sessions, enrolment, attendance, credits, case library."""
