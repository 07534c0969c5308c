"""Raw facts about the machine a run executes on (no policy)."""
