"""installer."""
