"""workspaces/storage."""
