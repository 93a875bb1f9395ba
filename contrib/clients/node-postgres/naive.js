'use strict';
// DON'T DO THIS: the usual application, which reads its credential once at
// start-up and keeps one Pool for ever.  Its idle clients of the old role
// never leave, so pgrotate's drain waits until drain_timeout (exit 3), and
// with on_drain_timeout = "terminate" its new connections fail after the
// revoke.  tests/t/185_client_naive.pl shows this; use app.js instead.
const { Pool } = require('pg');
const { readCredentials } = require('./credentials');
const load = require('./load');

const cred = readCredentials(process.env.DB_CREDENTIALS || '/etc/app/db.env');
const pool = new Pool({ user: cred.user, password: cred.password, max: 4,
  application_name: process.env.APP_NAME || 'node-postgres-naive' });
pool.on('error', (err) => console.error(`idle client: ${err.message}`));

load.run((sql) => pool.query(sql), () => pool.end());
