"""Regional internet clinic: chronic-disease follow-up, rule-checked renewals, reminders."""
