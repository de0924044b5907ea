"""Engine, sessions and Alembic migrations."""
