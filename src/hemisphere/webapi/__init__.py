"""Web commons shared by the console and dc roles: error envelope, auth dependencies."""
