"""The state store: everything the ingest keeps besides time series and its local spool (design §11),
in one database through SQLAlchemy Core: SQLite in the data dir by default, PostgreSQL when a database
URL is set. `database` opens it (the one module that uses SQLAlchemy's engine), `schema` declares its
tables, `migrate` brings a database to the code's schema with Alembic (`migrations/`) and takes in the
separate files of a data dir from before the state store."""
