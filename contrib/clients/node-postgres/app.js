'use strict';
// node-postgres following pgrotate's credential file (see README).
//
// node-postgres takes the user once, when a Pool is made (only the password
// may be a function), so a new role needs a new Pool: every RELOAD_MS the
// file is read again; when it changed, queries go to a new Pool and the old
// one is ended, which closes its idle clients now and the others as soon as
// they are released.  pgrotate's drain then sees no session of the old role.
//
// Environment: DB_CREDENTIALS (the env file sink), RELOAD_MS (500),
// PGHOST/PGPORT/PGDATABASE (read by node-postgres itself).
const { Pool } = require('pg');
const { readCredentials } = require('./credentials');
const load = require('./load');

const CRED_FILE = process.env.DB_CREDENTIALS || '/etc/app/db.env';
const RELOAD_MS = Number(process.env.RELOAD_MS || 500);

function newPool(cred) {
  const p = new Pool({
    user: cred.user,
    password: cred.password,
    max: 4,
    application_name: process.env.APP_NAME || 'node-postgres-recipe',
    // a backstop only: the pool swap below retires old-role clients at once
    maxLifetimeSeconds: 300,
  });
  // an idle client whose backend ends is dropped; without a handler, exit
  p.on('error', (err) => console.error(`idle client: ${err.message}`));
  return p;
}

let cred = readCredentials(CRED_FILE);
let pool = newPool(cred);

function reload() {
  let next;
  try {
    next = readCredentials(CRED_FILE);
  } catch (err) {
    console.error(`keeping role ${cred.user}: ${err.message}`);
    return;
  }
  if (next.user === cred.user && next.password === cred.password) return;
  const old = pool;
  cred = next;
  pool = newPool(cred);
  console.error(`credentials changed: now role ${cred.user}`);
  old.end().catch((err) => console.error(`ending the old pool: ${err.message}`));
}

const timer = setInterval(reload, RELOAD_MS);

// The application: always take the current pool at the time of the query.
load.run((sql) => pool.query(sql), async () => {
  clearInterval(timer);
  await pool.end();
});
