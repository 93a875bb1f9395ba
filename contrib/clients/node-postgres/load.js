'use strict';
// A stand-in for the application's work: WORKERS (4) loops of
// "SELECT session_user" with THINK_MS (5) between queries, until SIGTERM or
// SIGINT; then one line on stdout: queries=N failures=N users=role:N,...
const WORKERS = Number(process.env.WORKERS || 4);
const THINK_MS = Number(process.env.THINK_MS || 5);

function run(query, close) {
  let stopping = false;
  let queries = 0;
  let failures = 0;
  const users = {};
  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

  async function worker() {
    while (!stopping) {
      try {
        const res = await query('SELECT session_user AS u');
        const u = res.rows[0].u;
        users[u] = (users[u] || 0) + 1;
        queries++;
      } catch (err) {
        failures++;
        console.error(`query failed: ${err.message}`);
      }
      await sleep(THINK_MS);
    }
  }

  const workers = Array.from({ length: WORKERS }, worker);
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    await Promise.all(workers);
    await close();
    const u = Object.keys(users).sort().map((k) => `${k}:${users[k]}`).join(',');
    console.log(`queries=${queries + failures} failures=${failures} users=${u}`);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

module.exports = { run };
