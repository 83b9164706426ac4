//! Mutation fuzzing of the backend side: a tenant whose backend, as the catalog records it, is
//! a scripted MySQL server on a local port that answers every statement with a well-formed
//! answer and then, most of the time, spoils it: a packet's bytes changed, a packet dropped,
//! repeated or added, an ERR among the rows, a sequence id skipped, bytes that frame nothing.
//! A real server does not do this; a broken network path, a proxy in between or a server bug
//! can, and the proxy must survive it as it survives a hostile client.
//!
//! Clients use both protocols through the in-process proxy. Every statement must be answered
//! (rows or an error) or its connection closed, in bounded time; nothing may panic; and once
//! the server behaves again, the same tenant's statements get exactly the server's answers: no
//! connection that saw garbage is still in the pool, and no pin is left. The seed comes from
//! `OCTODB_FUZZ_SEED`; `OCTODB_FUZZ_TRACE=1` prints every command the scripted server got and
//! what it answered.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{ensure, Context, Result};
use mysql_async::prelude::Queryable;
use octodb_tests::fuzz::{count_panics, mutate, panics, seed, Rng};
use octodb_tests::raw::RawClient;
use octodb_tests::{root_conn, TestEnv, TestTenant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const STATEMENTS: usize = 600;
/// How long the scripted server waits for the next command after a spoiled answer before it
/// hangs up: a proxy still waiting for the rest of the answer sends none.
const PATIENCE: Duration = Duration::from_millis(200);
const ANSWER_WITHIN: Duration = Duration::from_secs(15);
/// A session that sent nothing for this long after a sync query is waiting for something.
const QUIET: Duration = Duration::from_secs(3);
const SYNC_ATTEMPTS: usize = 4;

const SELECTS: [&str; 4] = [
    "SELECT id, name FROM items WHERE id = 1",
    "SELECT id, name FROM items ORDER BY id",
    "SELECT name, id FROM items WHERE name <> 'x'",
    "SELECT COUNT(*) FROM items",
];

/// What the scripted server shares with the test.
struct Script {
    spoil: AtomicBool,
    seed: AtomicU64,
}

fn lenenc(buf: &mut Vec<u8>, s: &[u8]) {
    buf.push(s.len() as u8);
    buf.extend_from_slice(s);
}

fn column(name: &str, ty: u8) -> Vec<u8> {
    let mut c = Vec::new();
    for s in ["def", "t_x__app", "items", "items"] {
        lenenc(&mut c, s.as_bytes());
    }
    lenenc(&mut c, name.as_bytes());
    lenenc(&mut c, name.as_bytes());
    c.push(0x0C);
    c.extend_from_slice(&45u16.to_le_bytes());
    c.extend_from_slice(&20u32.to_le_bytes());
    c.push(ty);
    c.extend_from_slice(&0u16.to_le_bytes());
    c.extend_from_slice(&[0, 0, 0]);
    c
}

const EOF: [u8; 5] = [0xFE, 0, 0, 2, 0];

fn ok(affected: u8, id: u8) -> Vec<u8> {
    vec![0, affected, id, 2, 0, 0, 0]
}

/// The answer a server gives to a statement: a result set of `id` and `name` for a query
/// (with `marker`, a sync query's own value), an OK for anything else.
fn answer(sql: &str, binary: bool) -> Vec<Vec<u8>> {
    if let Some(marker) = sql
        .strip_prefix("SELECT '")
        .and_then(|s| s.strip_suffix('\''))
    {
        let mut row = if binary { vec![0, 0] } else { Vec::new() };
        lenenc(&mut row, marker.as_bytes());
        return vec![vec![1], column("s", 0xFD), EOF.to_vec(), row, EOF.to_vec()];
    }
    if !sql.trim_start().to_ascii_uppercase().starts_with("SELECT") {
        return vec![ok(1, 7)];
    }
    let mut packets = vec![
        vec![2],
        column("id", 0x08),
        column("name", 0xFD),
        EOF.to_vec(),
    ];
    for (id, name) in [(1u8, "a"), (2, "b")] {
        let mut row = Vec::new();
        if binary {
            row.extend_from_slice(&[0, 0]);
            row.extend_from_slice(&u64::from(id).to_le_bytes());
        } else {
            lenenc(&mut row, id.to_string().as_bytes());
        }
        lenenc(&mut row, name.as_bytes());
        packets.push(row);
    }
    packets.push(EOF.to_vec());
    packets
}

/// The answer to COM_STMT_PREPARE: the statement's id, its parameters and columns.
fn prepare_answer(sql: &str, id: u32) -> Vec<Vec<u8>> {
    let params = sql.matches('?').count() as u16;
    let select = sql.trim_start().to_ascii_uppercase().starts_with("SELECT");
    let cols: u16 = if select { 2 } else { 0 };
    let mut first = vec![0];
    first.extend_from_slice(&id.to_le_bytes());
    first.extend_from_slice(&cols.to_le_bytes());
    first.extend_from_slice(&params.to_le_bytes());
    first.extend_from_slice(&[0, 0, 0]);
    let mut packets = vec![first];
    if params > 0 {
        packets.extend((0..params).map(|_| column("?", 0xFD)));
        packets.push(EOF.to_vec());
    }
    if cols > 0 {
        packets.extend([column("id", 0x08), column("name", 0xFD), EOF.to_vec()]);
    }
    packets
}

/// Spoils an answer; the packets' framing is rebuilt from what is left, except when bytes
/// that frame nothing are added or a sequence id is skipped.
fn spoil(rng: &mut Rng, packets: &mut Vec<Vec<u8>>) -> (Option<usize>, Vec<u8>) {
    let mut skip = None;
    let mut trailer = Vec::new();
    let at = rng.below(packets.len());
    match rng.below(8) {
        0..=2 => mutate(rng, &mut packets[at]),
        3 => {
            packets.remove(at);
        }
        4 => {
            let p = packets[at].clone();
            packets.insert(at, p);
        }
        5 => {
            let mut err = vec![0xFF, 0x25, 0x05, b'#'];
            err.extend_from_slice(b"70100interrupted");
            packets.insert(at, err);
        }
        6 => skip = Some(at),
        _ => {
            let n = 1 + rng.below(12);
            trailer = rng.bytes(n);
        }
    }
    (skip, trailer)
}

async fn read_packet(s: &mut TcpStream) -> Result<(u8, Vec<u8>)> {
    let mut h = [0u8; 4];
    s.read_exact(&mut h).await?;
    let len = usize::from(h[0]) | usize::from(h[1]) << 8 | usize::from(h[2]) << 16;
    let mut p = vec![0; len];
    s.read_exact(&mut p).await?;
    Ok((h[3], p))
}

/// Writes `packets` from sequence id `seq` on, skipping one id at `skip`.
async fn write_packets(
    s: &mut TcpStream,
    mut seq: u8,
    packets: &[Vec<u8>],
    skip: Option<usize>,
    trailer: &[u8],
) -> Result<()> {
    let mut buf = Vec::new();
    for (i, p) in packets.iter().enumerate() {
        if skip == Some(i) {
            seq = seq.wrapping_add(1);
        }
        buf.extend_from_slice(&(p.len() as u32).to_le_bytes()[..3]);
        buf.push(seq);
        buf.extend_from_slice(p);
        seq = seq.wrapping_add(1);
    }
    buf.extend_from_slice(trailer);
    s.write_all(&buf).await?;
    Ok(())
}

fn greeting() -> Vec<u8> {
    let mut g = vec![10];
    g.extend_from_slice(b"5.5.5-10.11.19-MariaDB\0");
    g.extend_from_slice(&9u32.to_le_bytes());
    g.extend_from_slice(b"12345678\0");
    // Everything but CLIENT_DEPRECATE_EOF (bit 24) and CLIENT_SSL.
    let caps: u32 = 0x00FF_FFFF & !0x800;
    g.extend_from_slice(&(caps as u16).to_le_bytes());
    g.push(45);
    g.extend_from_slice(&2u16.to_le_bytes());
    g.extend_from_slice(&((caps >> 16) as u16).to_le_bytes());
    g.push(21);
    g.extend_from_slice(&[0; 10]);
    g.extend_from_slice(b"abcdefghijkl\0mysql_native_password\0");
    g
}

/// One backend connection: greets, admits any login, then answers command after command.
async fn serve_one(mut s: TcpStream, script: Arc<Script>, n: u64) -> Result<()> {
    let mut rng = Rng(script.seed.load(Ordering::SeqCst).wrapping_add(n << 32));
    write_packets(&mut s, 0, &[greeting()], None, &[]).await?;
    read_packet(&mut s).await?;
    write_packets(&mut s, 2, &[ok(0, 0)], None, &[]).await?;
    let mut statements: Vec<String> = Vec::new();
    let mut spoiled = false;
    loop {
        let next = if spoiled {
            match tokio::time::timeout(PATIENCE, read_packet(&mut s)).await {
                Ok(next) => next,
                Err(_) => return Ok(()),
            }
        } else {
            read_packet(&mut s).await
        };
        let Ok((_, cmd)) = next else { return Ok(()) };
        let mut packets = match cmd.split_first() {
            Some((0x03, sql)) => answer(&String::from_utf8_lossy(sql), false),
            Some((0x16, sql)) => {
                let sql = String::from_utf8_lossy(sql).into_owned();
                statements.push(sql.clone());
                prepare_answer(&sql, statements.len() as u32)
            }
            Some((0x17, rest)) if rest.len() >= 4 => {
                let id = u32::from_le_bytes(rest[..4].try_into()?) as usize;
                let sql = statements
                    .get(id.wrapping_sub(1))
                    .cloned()
                    .unwrap_or_default();
                answer(&sql, true)
            }
            Some((0x19, _)) => continue,
            Some((0x01, _)) | None => return Ok(()),
            _ => vec![ok(0, 0)],
        };
        let sync = packets.iter().any(|p| p.windows(5).any(|w| w == b"sync-"));
        spoiled = !sync && script.spoil.load(Ordering::SeqCst) && rng.chance(60);
        let (skip, trailer) = if spoiled {
            spoil(&mut rng, &mut packets)
        } else {
            (None, Vec::new())
        };
        if std::env::var_os("OCTODB_FUZZ_TRACE").is_some() {
            eprintln!(
                "conn {n}: {:02x?} -> spoiled={spoiled} skip={skip:?} trailer={} packets={:02x?}",
                &cmd[..cmd.len().min(60)],
                trailer.len(),
                packets
            );
        }
        write_packets(&mut s, 1, &packets, skip, &trailer).await?;
    }
}

async fn scripted_server(script: Arc<Script>) -> Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    tokio::spawn(async move {
        let mut n = 0;
        while let Ok((s, _)) = listener.accept().await {
            n += 1;
            tokio::spawn(serve_one(s, script.clone(), n));
        }
    });
    Ok(port)
}

/// Sends `SELECT 'sync-…'` and reads until its row and the EOF after it: everything before
/// belongs to the statement, whatever its shape. The sync query itself may fail, when the
/// connection the session holds breaks under it: after an error and a quiet spell it is sent
/// again. `Ok(false)`: the proxy closed the connection. No packet may be empty: the proxy
/// never sends one (a begun packet it could not fill would show as one).
async fn sync(raw: &mut RawClient, client: u64, n: usize) -> Result<bool> {
    for attempt in 0..SYNC_ATTEMPTS {
        let marker = format!("sync-{client}-{n}-{attempt}");
        if raw
            .write_packet(0, format!("\x03SELECT '{marker}'").as_bytes())
            .await
            .is_err()
        {
            return Ok(false);
        }
        let mut errors = 0;
        loop {
            let Ok(next) = tokio::time::timeout(QUIET, raw.read_packet()).await else {
                break;
            };
            let Ok((_, p)) = next else { return Ok(false) };
            ensure!(!p.is_empty(), "an empty packet from the proxy");
            if p.first() == Some(&0xFF) {
                errors += 1;
            }
            let answered = format!("sync-{client}-{n}-");
            if p.windows(answered.len()).any(|w| w == answered.as_bytes()) {
                return Ok(raw.read_packet().await.is_ok());
            }
        }
        // Nothing for a while, and no error that could have been the sync's own: a hang.
        ensure!(errors > 0, "no answer within {QUIET:?}");
    }
    anyhow::bail!("no answer to {SYNC_ATTEMPTS} sync queries")
}

async fn login(env: &TestEnv, t: &TestTenant) -> Result<RawClient> {
    let (raw, ok) = RawClient::login(env.addr, &t.user, &t.password, Some("app")).await?;
    ensure!(ok.first() == Some(&0), "login refused: {ok:?}");
    Ok(raw)
}

/// One client's statements, text and prepared, each followed by a sync query.
async fn client(env: &TestEnv, t: &TestTenant, seed: u64) -> Result<usize> {
    let mut rng = Rng(seed);
    let mut raw = login(env, t).await?;
    let mut closed = 0;
    for n in 0..STATEMENTS {
        let sql = *rng.pick(&SELECTS);
        let commands: Vec<Vec<u8>> = match rng.below(3) {
            0 => vec![[&[0x03u8][..], sql.as_bytes()].concat()],
            1 => vec![b"\x03UPDATE items SET name = 'z' WHERE id = 2".to_vec()],
            _ => vec![[&[0x16u8][..], sql.as_bytes()].concat()],
        };
        let mut alive = true;
        for c in &commands {
            alive &= raw.write_packet(0, c).await.is_ok();
        }
        // A prepared statement that the proxy admitted is executed at once.
        if alive && commands[0][0] == 0x16 {
            let first = tokio::time::timeout(ANSWER_WITHIN, raw.read_packet())
                .await
                .with_context(|| format!("seed {seed}, statement {n}: no answer to PREPARE"))?;
            if let Ok((_, p)) = first {
                if p.first() == Some(&0) && p.len() >= 9 {
                    let id = u32::from_le_bytes(p[1..5].try_into()?);
                    let mut exec = vec![0x17];
                    exec.extend_from_slice(&id.to_le_bytes());
                    exec.extend_from_slice(&[0, 1, 0, 0, 0]);
                    alive &= raw.write_packet(0, &exec).await.is_ok();
                }
            }
        }
        let answered = alive
            && sync(&mut raw, seed % 10, n).await.with_context(|| {
                format!(
                    "seed {seed}, statement {n}: {}",
                    String::from_utf8_lossy(&commands[0])
                )
            })?;
        if !answered {
            closed += 1;
            raw = login(env, t).await?;
        }
    }
    Ok(closed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spoiled_backend_answers_are_survived() -> Result<()> {
    count_panics();
    let mut env = TestEnv::start_with(|c| c.pool_max = 4).await?;
    let t = env
        .tenant("CREATE TABLE items (id INT PRIMARY KEY, name VARCHAR(10))")
        .await?;
    let result = run(&mut env, &t).await;
    env.cleanup().await?;
    result
}

async fn run(env: &mut TestEnv, t: &TestTenant) -> Result<()> {
    let seed = seed();
    let script = Arc::new(Script {
        spoil: AtomicBool::new(true),
        seed: AtomicU64::new(seed),
    });
    let port = scripted_server(script.clone()).await?;
    // The tenant's backend, as the catalog records it, is now the scripted server.
    let mut root = root_conn(Some(&env.catalog_db)).await?;
    root.exec_drop(
        "INSERT INTO backends (host, port) VALUES ('127.0.0.1', ?)",
        (port,),
    )
    .await?;
    root.exec_drop(
        "UPDATE tenants SET backend_id = LAST_INSERT_ID() WHERE name = ?",
        (&t.name,),
    )
    .await?;
    drop(root);

    let (a, b) = tokio::try_join!(
        client(env, t, seed.wrapping_add(1)),
        client(env, t, seed.wrapping_add(2)),
    )?;
    eprintln!(
        "seed {seed}: {} statements against a spoiling backend; {} client connections closed",
        2 * STATEMENTS,
        a + b
    );
    ensure!(panics() == 0, "seed {seed}: a panic");

    // The server behaves again: every answer is exactly its own, on every pooled connection.
    script.spoil.store(false, Ordering::SeqCst);
    let mut c = env.connect(t).await?;
    for _ in 0..20 {
        let rows: Vec<(i64, String)> = c.query("SELECT id, name FROM items ORDER BY id").await?;
        ensure!(
            rows == vec![(1, "a".to_string()), (2, "b".to_string())],
            "seed {seed}: {rows:?}"
        );
        let rows: Vec<(i64, String)> = c
            .exec("SELECT id, name FROM items WHERE id = ?", (1,))
            .await?;
        ensure!(rows.len() == 2, "seed {seed}: {rows:?}");
    }
    drop(c);
    let left = env.pins_left().await;
    ensure!(left.is_empty(), "seed {seed}: still pinned {left:?}");
    Ok(())
}
