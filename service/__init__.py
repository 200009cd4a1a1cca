"""The imperative shell: configuration, database, use cases, auth, CLI and the app factory."""
