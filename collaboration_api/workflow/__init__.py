"""What referral and consultation share: checked state transitions, their timestamped
history, and the decisions on suggested practitioners that become training labels."""
