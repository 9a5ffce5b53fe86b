"""Changes waiting for a second person: pending requests with their frozen plans."""
