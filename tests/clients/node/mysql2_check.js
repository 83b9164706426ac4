#!/usr/bin/env node
// Drives OctoDB's proxy with Node's mysql2 (promise API) the way a Node application would:
// a pool, execute() (server-side prepared statements: COM_STMT_PREPARE / EXECUTE, cached per
// connection), query() (text protocol, client-side escaping), a JSON column, transactions on a
// pool connection, insertId / LAST_INSERT_ID(), concurrent statements over several pooled
// connections, and a duplicate-key error. Results are compared with a direct connection to the
// tenant's physical database.
//
// Run by tests/tests/orms.rs:
//   node mysql2_check.js --host=H --port=P --user=U --password=PW --db=app --physical=PHYS
//        [--direct-host=127.0.0.1 --direct-port=3306 --direct-user=root --direct-password=
//         --direct-db=PHYS]
// The tenant's database holds the tables users and addresses created by orms.rs.
// Prints "ok   <check>" or "FAIL <check>: <why>" per check and carries on; server errors are
// listed at the end as "refused <code>: <sql> -- <message>".
// Exit status: 0 all checks passed, 1 a check failed, 3 mysql2 is not installed (npm ci).
'use strict';

let mysql;
try {
  mysql = require('mysql2/promise');
} catch (e) {
  console.log(`FAIL setup: mysql2 is not installed (${e.message}; run npm ci in tests/clients/node)`);
  process.exit(3);
}
const assert = require('node:assert/strict');

function parseArgs() {
  const out = {
    'direct-host': '127.0.0.1',
    'direct-port': '3306',
    'direct-user': 'root',
    'direct-password': '',
  };
  for (const a of process.argv.slice(2)) {
    const m = /^--([^=]+)=(.*)$/s.exec(a);
    if (!m) throw new Error(`bad argument ${a}`);
    out[m[1]] = m[2];
  }
  for (const k of ['host', 'port', 'user', 'password', 'db', 'physical']) {
    if (out[k] === undefined) throw new Error(`missing --${k}`);
  }
  return out;
}

const results = { passed: 0, failed: [], refused: new Map() };

async function check(name, fn) {
  try {
    const v = await fn();
    results.passed += 1;
    console.log(`ok   ${name}`);
    return v;
  } catch (e) {
    results.failed.push(name);
    console.log(`FAIL ${name}: ${e && e.stack ? e.stack.split('\n').slice(0, 3).join(' | ') : e}`);
    if (e && typeof e.errno === 'number') {
      const sql = (e.sql || `(during: ${name})`).replace(/\s+/g, ' ').trim();
      const key = `${e.errno}: ${sql}`;
      if (!results.refused.has(key)) results.refused.set(key, e.sqlMessage || e.message);
    }
    return undefined;
  }
}

const pad = (i) => String(i).padStart(2, '0');

function parseJson(v) {
  // MySQL sends JSON columns as type JSON (mysql2 parses them); MariaDB stores JSON as LONGTEXT,
  // so the value arrives as a string.
  if (typeof v === 'string') return JSON.parse(v);
  return v;
}

async function main() {
  const args = parseArgs();
  console.log(`node ${process.version}, mysql2 ${require('mysql2/package.json').version}`);
  const pool = mysql.createPool({
    host: args.host,
    port: Number(args.port),
    user: args.user,
    password: args.password,
    database: args.db,
    connectionLimit: 4,
    maxIdle: 4,
    waitForConnections: true,
    charset: 'utf8mb4_general_ci',
    connectTimeout: 20000,
    dateStrings: false,
  });
  const direct = await mysql.createConnection({
    host: args['direct-host'],
    port: Number(args['direct-port']),
    user: args['direct-user'],
    password: args['direct-password'],
    database: args['direct-db'] || args.physical,
  });
  const backend = async (sql, params) => (await direct.query(sql, params))[0];
  const state = {};

  await check('pool.query: SELECT DATABASE() is the logical name', async () => {
    const [rows] = await pool.query('SELECT DATABASE() AS db');
    assert.equal(rows[0].db, args.db);
  });

  const profile = { tags: ['a', 'b'], n: 42, nested: { ok: true, s: "it's \"quoted\"" } };

  await check('pool.execute: INSERT with parameters, insertId, JSON column', async () => {
    const [res] = await pool.execute(
      'INSERT INTO users (name, email, profile, created_at) VALUES (?, ?, ?, ?)',
      ['nora', 'nora@example.com', JSON.stringify(profile), new Date(Date.UTC(2024, 0, 2, 3, 4, 5))],
    );
    assert.equal(res.affectedRows, 1);
    assert.ok(res.insertId > 0, `insertId ${res.insertId}`);
    state.nora = res.insertId;
    const rows = await backend('SELECT name, profile FROM users WHERE id = ?', [state.nora]);
    assert.equal(rows.length, 1);
    assert.deepEqual(parseJson(rows[0].profile), profile);
  });

  await check('pool.execute: SELECT with parameters, JSON parsed back', async () => {
    const [rows, fields] = await pool.execute(
      'SELECT id, name, email, profile, JSON_EXTRACT(profile, ?) AS n FROM users WHERE id = ? AND name = ?',
      ['$.n', state.nora, 'nora'],
    );
    assert.equal(rows.length, 1);
    assert.deepEqual(fields.map((f) => f.name), ['id', 'name', 'email', 'profile', 'n']);
    assert.equal(rows[0].id, state.nora);
    assert.deepEqual(parseJson(rows[0].profile), profile);
    assert.equal(Number(rows[0].n), 42);
  });

  await check('pool.execute: the same statement again (cached prepared statement), NULL and unicode', async () => {
    const sql = 'INSERT INTO addresses (user_id, city, zip) VALUES (?, ?, ?)';
    const a = (await pool.execute(sql, [state.nora, 'Zürich ✓', null]))[0];
    const b = (await pool.execute(sql, [state.nora, "Val d'Isère", '73150']))[0];
    assert.ok(b.insertId > a.insertId, `insertIds ${a.insertId}, ${b.insertId}`);
    const [rows] = await pool.execute('SELECT city, zip FROM addresses WHERE user_id = ? ORDER BY id', [state.nora]);
    assert.deepEqual(rows.map((r) => [r.city, r.zip]), [['Zürich ✓', null], ["Val d'Isère", '73150']]);
  });

  await check('pool.execute: UPDATE and DELETE affectedRows', async () => {
    const [u] = await pool.execute('UPDATE addresses SET zip = ? WHERE user_id = ? AND zip IS NULL', ['8001', state.nora]);
    assert.equal(u.affectedRows, 1);
    const [d] = await pool.execute('DELETE FROM addresses WHERE user_id = ? AND city LIKE ?', [state.nora, 'Val%']);
    assert.equal(d.affectedRows, 1);
    const rows = await backend('SELECT city, zip FROM addresses WHERE user_id = ?', [state.nora]);
    assert.deepEqual(rows.map((r) => [r.city, r.zip]), [['Zürich ✓', '8001']]);
  });

  await check('pool.query: text protocol with client-side escaping and a JOIN', async () => {
    const tricky = "q'uote \\ back ; -- dash";
    const [res] = await pool.query('INSERT INTO users (name, email) VALUES (?, ?)', [tricky, 'tricky@example.com']);
    assert.ok(res.insertId > state.nora);
    const [rows] = await pool.query(
      'SELECT u.name, COUNT(a.id) AS n FROM users u LEFT JOIN addresses a ON a.user_id = u.id WHERE u.email IN (?) GROUP BY u.id, u.name ORDER BY u.id',
      [['nora@example.com', 'tricky@example.com']],
    );
    assert.deepEqual(rows.map((r) => [r.name, Number(r.n)]), [['nora', 1], [tricky, 0]]);
  });

  await check('JSON column written with JSON_OBJECT and read through execute()', async () => {
    const [res] = await pool.execute(
      "INSERT INTO users (name, email, profile) VALUES (?, ?, JSON_OBJECT('k', ?, 'list', JSON_ARRAY(1, 2, 3)))",
      ['json', 'json@example.com', 'v'],
    );
    const [rows] = await pool.execute(
      "SELECT profile, JSON_UNQUOTE(JSON_EXTRACT(profile, '$.k')) AS k FROM users WHERE id = ?",
      [res.insertId],
    );
    assert.deepEqual(parseJson(rows[0].profile), { k: 'v', list: [1, 2, 3] });
    assert.equal(rows[0].k, 'v');
  });

  await check('transaction on a pool connection: rollback, then commit', async () => {
    const conn = await pool.getConnection();
    try {
      await conn.beginTransaction();
      const [res] = await conn.execute('INSERT INTO users (name, email) VALUES (?, ?)', ['ghost', 'ghost@example.com']);
      const [[seen]] = await conn.execute('SELECT COUNT(*) AS n FROM users WHERE id = ?', [res.insertId]);
      assert.equal(Number(seen.n), 1);
      await conn.rollback();
      const [[gone]] = await conn.execute('SELECT COUNT(*) AS n FROM users WHERE id = ?', [res.insertId]);
      assert.equal(Number(gone.n), 0);
      assert.deepEqual(await backend("SELECT id FROM users WHERE name = 'ghost'"), []);

      await conn.beginTransaction();
      await conn.query('UPDATE users SET name = ? WHERE id = ?', ['nora2', state.nora]);
      await conn.execute('INSERT INTO addresses (user_id, city) VALUES (?, ?)', [state.nora, 'Bern']);
      await conn.commit();
    } finally {
      conn.release();
    }
    const rows = await backend('SELECT u.name, a.city FROM users u JOIN addresses a ON a.user_id = u.id WHERE u.id = ? ORDER BY a.id', [state.nora]);
    assert.deepEqual(rows.map((r) => [r.name, r.city]), [['nora2', 'Zürich ✓'], ['nora2', 'Bern']]);
  });

  await check('LAST_INSERT_ID() on the connection matches insertId', async () => {
    const conn = await pool.getConnection();
    try {
      const [res] = await conn.execute('INSERT INTO users (name, email) VALUES (?, ?)', ['lid', 'lid@example.com']);
      const [[viaQuery]] = await conn.query('SELECT LAST_INSERT_ID() AS id');
      assert.equal(Number(viaQuery.id), res.insertId);
      const [[viaExecute]] = await conn.execute('SELECT LAST_INSERT_ID() AS id');
      assert.equal(Number(viaExecute.id), res.insertId);
    } finally {
      conn.release();
    }
  });

  await check('concurrent execute() over several pooled connections', async () => {
    const jobs = [];
    for (let i = 0; i < 20; i += 1) {
      jobs.push(pool.execute('INSERT INTO users (name, email) VALUES (?, ?)', [`c${pad(i)}`, `c${pad(i)}@example.com`]));
    }
    const res = await Promise.all(jobs);
    const ids = new Set(res.map(([r]) => r.insertId));
    assert.equal(ids.size, 20);
    const sel = await Promise.all(
      Array.from({ length: 20 }, (_, i) => pool.execute('SELECT name FROM users WHERE email = ?', [`c${pad(i)}@example.com`])),
    );
    assert.deepEqual(sel.map(([rows]) => rows[0].name), Array.from({ length: 20 }, (_, i) => `c${pad(i)}`));
    const [n] = await backend("SELECT COUNT(*) AS n FROM users WHERE name LIKE 'c%'");
    assert.equal(Number(n.n), 20);
  });

  await check('pagination: execute() with LIMIT ? OFFSET ?', async () => {
    const [rows] = await pool.execute(
      "SELECT name FROM users WHERE name LIKE 'c%' ORDER BY name LIMIT ? OFFSET ?",
      ['5', '10'],
    );
    assert.deepEqual(rows.map((r) => r.name), ['c10', 'c11', 'c12', 'c13', 'c14']);
  });

  await check('duplicate key: error 1062, pool still usable', async () => {
    await assert.rejects(
      pool.execute('INSERT INTO users (name, email) VALUES (?, ?)', ['dup', 'nora@example.com']),
      (e) => {
        assert.equal(e.errno, 1062, `errno ${e.errno}: ${e.message}`);
        assert.ok(!String(e.message).includes(args.physical), `error names the physical database: ${e.message}`);
        return true;
      },
    );
    const [[one]] = await pool.execute('SELECT 1 AS one');
    assert.equal(one.one, 1);
  });

  await check('the physical database name is refused (1044)', async () => {
    await assert.rejects(pool.query(`SELECT COUNT(*) FROM \`${args.physical}\`.users`), (e) => {
      assert.equal(e.errno, 1044, `errno ${e.errno}: ${e.message}`);
      return true;
    });
  });

  await pool.end();
  await direct.end();
  for (const [key, msg] of results.refused) console.log(`refused ${key} -- ${msg}`);
  console.log(`summary: ok=${results.passed} failed=${results.failed.length}`);
  if (results.failed.length) process.exit(1);
  console.log('all mysql2 checks passed');
}

main().catch((e) => {
  console.log(`FAIL setup: ${e && e.stack ? e.stack : e}`);
  process.exit(1);
});
