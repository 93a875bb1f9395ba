'use strict';
// Reads pgrotate's "env" file sink: exactly two lines, PGUSER=... and
// PGPASSWORD=..., replaced atomically (rename) at every rotation.
const fs = require('fs');

function readCredentials(path) {
  const cred = {};
  for (const line of fs.readFileSync(path, 'utf8').split('\n')) {
    const m = /^(PGUSER|PGPASSWORD)=(.*)$/.exec(line);
    if (m) cred[m[1]] = m[2];
  }
  if (!cred.PGUSER || !cred.PGPASSWORD) {
    throw new Error(`${path}: no PGUSER= or PGPASSWORD= line`);
  }
  return { user: cred.PGUSER, password: cred.PGPASSWORD };
}

module.exports = { readCredentials };
