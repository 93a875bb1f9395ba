#!/usr/bin/python3
"""psycopg2 with its ThreadedConnectionPool, following pgrotate's credential
file (see README).

A psycopg2 pool connects with the arguments it was made with, so a new role
needs a new pool: a thread reads the file every RELOAD_MS; when it changed,
checkouts go to a new pool and the old one is retired: its connections are
closed as they come back, then the pool itself.  pgrotate's drain then sees
no session of the old role.

Environment: DB_CREDENTIALS (the env file sink), RELOAD_MS (500),
PGHOST/PGPORT/PGDATABASE (read by libpq).
"""
import os
import sys
import threading
from contextlib import contextmanager

from psycopg2.pool import ThreadedConnectionPool

from credentials import read_credentials
import load


class RotatingPool:
    """ThreadedConnectionPool keeps at most minconn idle connections (it
    closes the others on putconn): minconn = maxconn keeps them all."""

    def __init__(self, path, interval, minconn=4, maxconn=4, **connect_kw):
        self.path = path
        self.args = (minconn, maxconn)
        self.connect_kw = connect_kw
        self._lock = threading.Lock()
        self._cred = read_credentials(path)
        self._pool = self._new_pool(self._cred)
        self._in_use = {}                       # pool -> connections out
        self._stop = threading.Event()
        self._watcher = threading.Thread(target=self._watch, args=(interval,), daemon=True)
        self._watcher.start()

    def _new_pool(self, cred):
        user, password = cred
        return ThreadedConnectionPool(*self.args, user=user, password=password, **self.connect_kw)

    def _watch(self, interval):
        while not self._stop.wait(interval):
            try:
                cred = read_credentials(self.path)
                if cred == self._cred:
                    continue
                new = self._new_pool(cred)      # connects as the new role
            except Exception as e:
                print(f"keeping role {self._cred[0]}: {e}", file=sys.stderr, flush=True)
                continue
            with self._lock:
                old, self._pool, self._cred = self._pool, new, cred
                idle = self._in_use.get(old, 0) == 0
                if idle:
                    self._in_use.pop(old, None)
            print(f"credentials changed: now role {cred[0]}", file=sys.stderr, flush=True)
            if idle:
                old.closeall()

    @contextmanager
    def connection(self):
        with self._lock:
            pool = self._pool
            self._in_use[pool] = self._in_use.get(pool, 0) + 1
        conn = None
        try:
            conn = pool.getconn()
            yield conn
        finally:
            if conn is not None:
                pool.putconn(conn, close=pool is not self._pool)
            with self._lock:
                self._in_use[pool] -= 1
                last = pool is not self._pool and self._in_use[pool] == 0
                if last:
                    del self._in_use[pool]
            if last:
                pool.closeall()

    def close(self):
        self._stop.set()
        self._watcher.join()
        self._pool.closeall()


def main():
    pool = RotatingPool(os.environ.get("DB_CREDENTIALS", "/etc/app/db.env"),
                        int(os.environ.get("RELOAD_MS", "500")) / 1000.0,
                        application_name=os.environ.get("APP_NAME", "psycopg2-recipe"))

    def query(sql):
        with pool.connection() as conn, conn, conn.cursor() as cur:
            cur.execute(sql)
            return cur.fetchone()[0]

    load.run(query, pool.close)


if __name__ == "__main__":
    main()
