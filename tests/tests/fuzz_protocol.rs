//! Mutation fuzzing of the client protocol against the in-process proxy and the real MariaDB.
//!
//! Well-formed handshake responses and commands (queries, the whole prepared-statement
//! family, field lists, options...) are mutated: bits flipped, bytes replaced by the values
//! parsers trip on, integers set to their extremes, packets cut or padded. Whatever arrives,
//! the proxy must answer or close the connection: never panic (a panic in a session task would
//! otherwise pass unseen, so a hook counts them), never leave a session unanswered, keep
//! serving everyone, leave no connection pinned once the sessions are gone, and never let the
//! fuzzing tenant touch another tenant's rows. The parsers of client packets and backend
//! answers are also fed mutated packets directly, two hundred thousand of them.
//!
//! Deterministic: the seed is fixed unless `OCTODB_FUZZ_SEED` is set, and every failure
//! names the seed and the bytes that caused it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use anyhow::{bail, ensure, Context, Result};
use mysql_async::prelude::Queryable;
use octodb_tests::fuzz::{count_panics, mutate, panics, seed, Rng};
use octodb_tests::raw::RawClient;
use octodb_tests::{TestEnv, TestTenant};

const ITEMS: &str = "CREATE TABLE items (
    id INT AUTO_INCREMENT PRIMARY KEY,
    name VARCHAR(50) NOT NULL DEFAULT '',
    qty INT NOT NULL DEFAULT 0,
    note BLOB
)";

const SECRETS: &str = "CREATE TABLE secrets (id INT PRIMARY KEY, v VARCHAR(20) NOT NULL)";

/// Sessions fuzzing at once (they share the tenant's pool), and commands each sends.
const SESSIONS: usize = 3;
const COMMANDS: usize = 1200;
/// Mutated logins.
const LOGINS: usize = 150;
/// Longest a session may take to answer the synchronising query after a fuzzed command.
const ANSWER_WITHIN: Duration = Duration::from_secs(15);

const QUERIES: [&str; 16] = [
    "SELECT id, name, qty FROM items WHERE id = 1",
    "SELECT * FROM items ORDER BY id DESC LIMIT 3",
    "INSERT INTO items (name, qty) VALUES ('fuzz', 1)",
    "UPDATE items SET qty = qty + 1 WHERE id = 2",
    "DELETE FROM items WHERE name = 'nothing'",
    "SELECT COUNT(*), SUM(qty) FROM items GROUP BY name HAVING COUNT(*) > 0",
    "SET @x = 5, SESSION sql_mode = 'ANSI_QUOTES'",
    "SET NAMES latin1",
    "BEGIN",
    "COMMIT",
    "SELECT LAST_INSERT_ID(), ROW_COUNT(), FOUND_ROWS(), @x",
    "SELECT SQL_CALC_FOUND_ROWS * FROM items LIMIT 1",
    "SHOW TABLES",
    "SHOW WARNINGS",
    "USE app",
    "SELECT 'a\\'b', \"c\", `id` FROM items /* x */ -- y",
];

/// Statements every session prepares, with their parameter counts.
const PREPARED: [(&str, u16); 6] = [
    ("SELECT ? + ?", 2),
    ("SELECT * FROM items WHERE id = ?", 1),
    ("INSERT INTO items (name, qty, note) VALUES (?, ?, ?)", 3),
    ("SELECT name FROM items", 0),
    ("UPDATE items SET qty = ? WHERE id = ?", 2),
    ("SELECT CONCAT(?, ?, ?)", 3),
];

/// Parameter types as a client declares them, unsigned flag included.
const TYPES: [(u8, u8); 16] = [
    (0x01, 0),
    (0x02, 0),
    (0x03, 0),
    (0x08, 0),
    (0x08, 0x80),
    (0x04, 0),
    (0x05, 0),
    (0x06, 0),
    (0x0A, 0),
    (0x0B, 0),
    (0x0C, 0),
    (0x0F, 0),
    (0xF6, 0),
    (0xFC, 0),
    (0xFD, 0),
    (0xFE, 0),
];

fn value(rng: &mut Rng, ty: u8) -> Vec<u8> {
    match ty {
        0x01 => rng.bytes(1),
        0x02 => rng.bytes(2),
        0x03 | 0x04 => rng.bytes(4),
        0x05 | 0x08 => rng.bytes(8),
        0x06 => Vec::new(),
        0x0A..=0x0C => {
            let n = *rng.pick(&[0u8, 4, 7, 8, 11, 12]);
            let mut v = vec![n];
            v.extend(rng.bytes(usize::from(n)));
            v
        }
        _ => {
            let n = rng.below(40);
            let mut v = vec![n as u8];
            v.extend(rng.bytes(n));
            v
        }
    }
}

/// A COM_STMT_EXECUTE for statement `id` with `params` parameters, well formed.
fn execute(rng: &mut Rng, id: u32, params: u16) -> Vec<u8> {
    let mut p = vec![0x17];
    p.extend_from_slice(&id.to_le_bytes());
    p.push(*rng.pick(&[0u8, 0, 0, 1]));
    p.extend_from_slice(&1u32.to_le_bytes());
    if params == 0 {
        return p;
    }
    let n = usize::from(params);
    let mut nulls = vec![0u8; n.div_ceil(8)];
    let types: Vec<(u8, u8)> = (0..n).map(|_| *rng.pick(&TYPES)).collect();
    for i in 0..n {
        if rng.chance(10) {
            nulls[i / 8] |= 1 << (i % 8);
        }
    }
    p.extend_from_slice(&nulls);
    p.push(1);
    for (ty, flags) in &types {
        p.extend_from_slice(&[*ty, *flags]);
    }
    for (i, (ty, _)) in types.iter().enumerate() {
        if nulls[i / 8] & (1 << (i % 8)) == 0 {
            p.extend(value(rng, *ty));
        }
    }
    p
}

fn with_id(command: u8, id: u32, rest: &[u8]) -> Vec<u8> {
    let mut p = vec![command];
    p.extend_from_slice(&id.to_le_bytes());
    p.extend_from_slice(rest);
    p
}

/// A well-formed command of any kind the proxy serves (and a few it refuses).
fn command(rng: &mut Rng, ids: &[(u32, u16)]) -> Vec<u8> {
    let (id, params) = if ids.is_empty() || rng.chance(5) {
        (rng.word() as u32, 1)
    } else {
        *rng.pick(ids)
    };
    match rng.below(16) {
        0..=2 => [&[0x03u8][..], rng.pick(&QUERIES).as_bytes()].concat(),
        3 => [&[0x16u8][..], rng.pick(&PREPARED).0.as_bytes()].concat(),
        4..=6 => execute(rng, id, params),
        7 => {
            let mut rest = (rng.below(usize::from(params) + 1) as u16)
                .to_le_bytes()
                .to_vec();
            let n = rng.below(300);
            rest.extend(rng.bytes(n));
            with_id(0x18, id, &rest)
        }
        8 => with_id(0x1A, id, &[]),
        9 => with_id(0x1C, id, &(1 + rng.below(3) as u32).to_le_bytes()),
        10 => with_id(0x19, id, &[]),
        11 => [
            &[0x02u8][..],
            rng.pick(&["app", "nope", "", "information_schema", "mysql", "app`"])
                .as_bytes(),
        ]
        .concat(),
        12 => [&[0x04u8][..], b"items\0%"].concat(),
        13 => vec![0x1B, rng.below(2) as u8, 0],
        14 => vec![*rng.pick(&[0x0Eu8, 0x09, 0x1F, 0x0D, 0x0A, 0x07])],
        _ => {
            let n = 1 + rng.below(24);
            rng.bytes(n)
        }
    }
}

/// A logged-in raw session with the statements of [`PREPARED`] prepared.
struct Fuzzed {
    raw: RawClient,
    ids: Vec<(u32, u16)>,
}

impl Fuzzed {
    async fn open(env: &TestEnv, t: &TestTenant) -> Result<Fuzzed> {
        let (raw, ok) = RawClient::login(env.addr, &t.user, &t.password, Some("app")).await?;
        if ok.first() != Some(&0) {
            bail!("login refused: {ok:?}");
        }
        let mut f = Fuzzed {
            raw,
            ids: Vec::new(),
        };
        for (sql, _) in PREPARED {
            let prep = f
                .raw
                .command(&[&[0x16u8][..], sql.as_bytes()].concat())
                .await?;
            if prep.first() != Some(&0) || prep.len() < 9 {
                bail!("{sql}: not prepared: {prep:?}");
            }
            let id = u32::from_le_bytes(prep[1..5].try_into()?);
            let cols = u16::from_le_bytes(prep[5..7].try_into()?);
            let params = u16::from_le_bytes(prep[7..9].try_into()?);
            for n in [params, cols] {
                if n > 0 {
                    for _ in 0..=n {
                        f.raw.read_packet().await?;
                    }
                }
            }
            f.ids.push((id, params));
        }
        Ok(f)
    }

    /// Sends `SELECT 'sync-N'` and reads until its row and the EOF after it: everything before
    /// is the fuzzed command's answer, whatever its shape. `Ok(false)`: the proxy closed.
    async fn sync(&mut self, n: usize) -> Result<bool> {
        let marker = format!("sync-{n}");
        let query = format!("\x03SELECT '{marker}'");
        if self.raw.write_packet(0, query.as_bytes()).await.is_err() {
            return Ok(false);
        }
        let read = async {
            loop {
                let Ok((_, p)) = self.raw.read_packet().await else {
                    return false;
                };
                if p.windows(marker.len()).any(|w| w == marker.as_bytes()) {
                    return self.raw.read_packet().await.is_ok();
                }
            }
        };
        tokio::time::timeout(ANSWER_WITHIN, read)
            .await
            .context("no answer")
    }
}

/// One session's run: `COMMANDS` mutated commands, each followed by a synchronising query.
/// Returns how many times the proxy closed the connection (a new one is opened each time).
async fn fuzz_session(env: &TestEnv, t: &TestTenant, seed: u64) -> Result<usize> {
    let mut rng = Rng(seed);
    let mut s = Fuzzed::open(env, t).await?;
    let mut closed = 0;
    for n in 0..COMMANDS {
        let mut p = if rng.chance(3) {
            // To the session's own user, answering its greeting's scramble.
            s.raw.change_user_command(&t.user, &t.password, "app", 45)
        } else {
            command(&mut rng, &s.ids)
        };
        if rng.chance(70) {
            mutate(&mut rng, &mut p);
        }
        let seq = if rng.chance(3) { rng.word() as u8 } else { 0 };
        let sent = s.raw.write_packet(seq, &p).await.is_ok();
        let answered = sent
            && s.sync(n)
                .await
                .with_context(|| format!("seed {seed}, command {n}: {p:02x?}"))?;
        if !answered {
            closed += 1;
            s = Fuzzed::open(env, t)
                .await
                .with_context(|| format!("seed {seed}: reconnect after command {n}: {p:02x?}"))?;
        } else if rng.chance(2) {
            // Statements closed by the fuzzing come back now and then.
            s = Fuzzed::open(env, t).await?;
        }
    }
    Ok(closed)
}

/// Mutated handshake responses (and, when the proxy asks for another method, mutated answers
/// to that): each gets an answer or a close within the time limit.
async fn fuzz_logins(env: &TestEnv, t: &TestTenant, seed: u64) -> Result<()> {
    let mut rng = Rng(seed);
    let mut admitted = 0;
    for n in 0..LOGINS {
        let mut raw = RawClient::connect(env.addr).await?;
        let mut p = raw.handshake_response(&t.user, &t.password, Some("app"));
        mutate(&mut rng, &mut p);
        let context = || format!("seed {seed}, login {n}: {p:02x?}");
        if raw.write_packet(1, &p).await.is_err() {
            continue;
        }
        let reply = tokio::time::timeout(ANSWER_WITHIN, raw.read_packet())
            .await
            .with_context(|| format!("no answer to {}", context()))?;
        let Ok((seq, reply)) = reply else { continue };
        match reply.first() {
            Some(0x00) => {
                // Only with the password's answer intact.
                let answer = octodb_tests::raw::native_answer(&raw.scramble, &t.password);
                if !p.windows(answer.len()).any(|w| w == answer) {
                    bail!("{}: admitted without the password's answer", context());
                }
                admitted += 1;
            }
            Some(0xFE) => {
                let mut answer = octodb_tests::raw::native_answer(&raw.scramble, &t.password);
                mutate(&mut rng, &mut answer);
                if raw.write_packet(seq.wrapping_add(1), &answer).await.is_ok() {
                    tokio::time::timeout(ANSWER_WITHIN, raw.read_packet())
                        .await
                        .with_context(|| format!("no answer after the switch: {}", context()))?
                        .ok();
                }
            }
            Some(0xFF) => {}
            other => bail!("{}: unexpected answer {other:?}", context()),
        }
    }
    eprintln!("mutated logins: {LOGINS}, of which {admitted} still valid");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutated_packets_are_answered_and_harm_nobody() -> Result<()> {
    count_panics();
    // Mutated logins fail by the hundred from one address: the failed-login throttle (tested
    // in `limits.rs`) would refuse the fuzzing sessions' own logins.
    let tweak = |c: &mut octodb_proxy::ProxyConfig| {
        c.max_packet_size = 1 << 20;
        c.limits.auth_failures_per_user_address = 0;
        c.limits.auth_failures_per_address = 0;
        c.limits.auth_failures_per_user = 0;
    };
    TestEnv::run_with(tweak, |mut env| async move {
        let result = fuzz_everything(&mut env).await;
        (env, result)
    })
    .await
}

async fn fuzz_everything(env: &mut TestEnv) -> Result<()> {
    let seed = seed();
    let t = env.tenant(ITEMS).await?;
    let other = env.tenant(SECRETS).await?;
    let mut o = env.connect(&other).await?;
    o.query_drop("INSERT INTO secrets VALUES (1, 'one'), (2, 'two'), (3, 'three')")
        .await?;
    let mut c = env.connect(&t).await?;
    c.query_drop("INSERT INTO items (name, qty) VALUES ('a', 1), ('b', 2), ('c', 3)")
        .await?;
    drop(c);

    fuzz_logins(env, &t, seed).await?;
    let (a, b, c) = tokio::try_join!(
        fuzz_session(env, &t, seed.wrapping_add(1)),
        fuzz_session(env, &t, seed.wrapping_add(2)),
        fuzz_session(env, &t, seed.wrapping_add(3)),
    )?;
    let closed = a + b + c;
    eprintln!(
        "seed {seed}: {} fuzzed commands in {SESSIONS} sessions; the proxy closed {closed} connections",
        SESSIONS * COMMANDS
    );

    ensure!(panics() == 0, "seed {seed}: a panic");
    // Everyone is still served, the other tenant's rows are untouched.
    let rows: Vec<(i32, String)> = o.query("SELECT id, v FROM secrets ORDER BY id").await?;
    ensure!(
        rows == vec![(1, "one".into()), (2, "two".into()), (3, "three".into())],
        "seed {seed}: {rows:?}"
    );
    let mut c = env.connect(&t).await?;
    let n: Option<i64> = c.query_first("SELECT COUNT(*) FROM items").await?;
    ensure!(n.is_some(), "seed {seed}");
    drop((c, o));
    // With every session gone, nothing holds a backend connection.
    let left = env.pins_left().await;
    ensure!(left.is_empty(), "seed {seed}: still pinned {left:?}");
    Ok(())
}

/// Valid packets of every shape the parsers read, from clients and from the backend.
fn parser_seeds(rng: &mut Rng) -> Vec<Vec<u8>> {
    use mysql_async::consts::{ColumnFlags, ColumnType, StatusFlags};
    use octodb_proxy::backend::raw::{write_column_def, ColumnDef};
    use octodb_proxy::protocol::wire;

    let login = RawClient::handshake_payload(&[7; 20], "user_u", "pw", Some("app"));
    let mut change_user = b"user_u\0\x14".to_vec();
    change_user.extend_from_slice(&[9; 20]);
    change_user.extend_from_slice(b"app\0\x2d\0mysql_native_password\0");
    let mut ok = Vec::new();
    wire::ok_packet(
        &mut ok,
        3,
        70_000,
        StatusFlags::SERVER_STATUS_AUTOCOMMIT,
        1,
        b"info",
    );
    let mut err = Vec::new();
    wire::err_packet(
        &mut err,
        1146,
        "42S02",
        "Table 't_x__app.items' doesn't exist",
    );
    let mut eof = Vec::new();
    wire::eof_packet(&mut eof, StatusFlags::SERVER_MORE_RESULTS_EXISTS, 2);
    let def = ColumnDef {
        catalog: b"def",
        schema: b"t_x__app",
        table: b"items",
        org_table: b"items",
        name: b"qty",
        org_name: b"qty",
        charset: 63,
        length: 11,
        column_type: ColumnType::MYSQL_TYPE_LONG,
        flags: ColumnFlags::NOT_NULL_FLAG,
        decimals: 0,
    };
    let mut column = Vec::new();
    write_column_def(&mut column, &def, None, None);
    vec![
        login,
        change_user,
        execute(rng, 1, 3),
        ok,
        err,
        eof,
        column,
        b"\x01a\xfb\x03xyz".to_vec(),
        vec![0x00, 0b0000_0100, 7, 0, 0, 0, 3, b'a', b'b', b'c'],
        b"5.5.5-10.11.19-MariaDB-log".to_vec(),
    ]
}

/// The parsers of client packets and backend answers, fed mutated packets of every shape:
/// each returns a value or an error, none panics (a panic fails the test).
#[test]
fn mutated_packets_never_panic_a_parser() {
    use mysql_async::consts::{CapabilityFlags, ColumnType};
    use octodb_proxy::backend::raw::{
        classify_row_or_end, parse_eof, parse_err, parse_ok, parse_version, write_column_def,
        ColumnDef,
    };
    use octodb_proxy::protocol::handshake::{ChangeUser, HandshakeResponse};
    use octodb_proxy::protocol::stmt::parse_execute;

    let seed = seed();
    let mut rng = Rng(seed);
    let seeds = parser_seeds(&mut rng);
    let types = [
        ColumnType::MYSQL_TYPE_LONGLONG,
        ColumnType::MYSQL_TYPE_VAR_STRING,
        ColumnType::MYSQL_TYPE_DATETIME,
        ColumnType::MYSQL_TYPE_NEWDECIMAL,
    ];
    let mut parsed = 0;
    for _ in 0..200_000 {
        let mut p = rng.pick(&seeds).clone();
        mutate(&mut rng, &mut p);
        parsed += usize::from(HandshakeResponse::parse(&p).is_ok());
        let caps = CapabilityFlags::from_bits_truncate(rng.word() as u32);
        parsed += usize::from(ChangeUser::parse(&p, caps).is_ok());
        let params = rng.below(5);
        let known: Vec<_> = (0..params).map(|_| (*rng.pick(&types), false)).collect();
        let mut long_data = vec![None; params];
        if rng.chance(20) && params > 0 {
            long_data[rng.below(params)] = Some(rng.bytes(8));
        }
        let known = rng.chance(50).then_some(known.as_slice());
        parsed += usize::from(parse_execute(&p, params, known, &mut long_data).is_ok());
        parsed += usize::from(parse_ok(&p).is_ok());
        let _ = parse_err(&p);
        parsed += usize::from(parse_eof(&p).is_ok());
        let _ = classify_row_or_end(&p, false);
        let _ = classify_row_or_end(&p, true);
        let _ = parse_version(&p);
        if let Ok(def) = ColumnDef::parse(&p) {
            parsed += 1;
            let mut again = Vec::new();
            write_column_def(&mut again, &def, Some(b"app"), Some(b"n"));
            ColumnDef::parse(&again).expect("a rewritten column definition parses");
        }
    }
    eprintln!("seed {seed}: 200000 mutated packets, {parsed} parses succeeded");
}
