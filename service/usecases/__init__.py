"""Use cases: one async function per thing a caller can do, dependencies passed in."""
