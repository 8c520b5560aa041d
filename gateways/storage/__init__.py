"""SQLite storage: opening a database the Zepix way (WAL, one writer), numbered migrations, and the schemas
shared between actors (the common part of every plugin database)."""
