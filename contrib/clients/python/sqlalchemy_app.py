#!/usr/bin/python3
"""SQLAlchemy 1.4 (psycopg2 driver) following pgrotate's credential file
(see README).

- do_connect: every new DBAPI connection takes the user and the password
  of the file, read again when older than RELOAD_MS;
- checkout: a pooled connection of another role than the file's is
  discarded (DisconnectionError), and the pool opens a new one;
- pool_recycle: no connection lives longer than RECYCLE_S, whatever the
  role (a backstop).

Environment: DB_CREDENTIALS (the env file sink), RELOAD_MS (500),
RECYCLE_S (300), PGHOST/PGPORT/PGDATABASE (read by libpq).
"""
import os

from sqlalchemy import create_engine, event, exc, text

from credentials import CredentialFile
import load

creds = CredentialFile(os.environ.get("DB_CREDENTIALS", "/etc/app/db.env"),
                       ttl=int(os.environ.get("RELOAD_MS", "500")) / 1000.0)

# An empty URL: host, port and database come from PGHOST, PGPORT, PGDATABASE.
engine = create_engine(
    "postgresql+psycopg2://",
    pool_size=4, max_overflow=0,
    pool_recycle=int(os.environ.get("RECYCLE_S", "300")),
    connect_args={"application_name": os.environ.get("APP_NAME", "sqlalchemy-recipe")},
)


@event.listens_for(engine, "do_connect")
def provide_credentials(dialect, conn_rec, cargs, cparams):
    cparams["user"], cparams["password"] = creds.get()


@event.listens_for(engine, "checkout")
def retire_old_role(dbapi_conn, conn_rec, conn_proxy):
    if dbapi_conn.info.user != creds.get()[0]:
        raise exc.DisconnectionError(f"role {dbapi_conn.info.user} was rotated out")


def query(sql):
    with engine.connect() as conn:
        return conn.execute(text(sql)).scalar()


if __name__ == "__main__":
    load.run(query, engine.dispose)
