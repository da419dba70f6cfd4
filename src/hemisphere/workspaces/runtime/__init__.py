"""workspaces/runtime."""
