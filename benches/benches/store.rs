//! orrery-store against bare sqlx issuing the same statements in the same run, on SQLite and
//! on PostgreSQL: save and load of a 10,000-node graph, 10,000 small graph inserts, and reads
//! by id from 8 concurrent tasks. Each scenario has up to three functions:
//!
//! - `store`: the `orrery-store` call, from an `orrery_core::Graph` in to a `GraphRecord` out;
//! - `bare`: the same statements through a bare sqlx pool, with the work any caller of the
//!   same API would do (serialize and digest the document going in, parse it coming out);
//! - `bare_sql`: the statements alone, with the JSON text and digest prepared beforehand.
//!
//! `store / bare` is the store's overhead; `bare / bare_sql` is what turning documents into
//! text and back costs. SQLite runs in a temporary file; PostgreSQL runs when
//! `ORRERY_BENCH_POSTGRES_URL` names a server (a fresh database is made there and dropped).
//!
//! With `ORRERY_STORE_BENCH_ROUNDS` set, the variants take turns in rounds instead of running
//! one after the other under criterion, and a markdown table of median times and median
//! ratios is printed: on a machine shared with other work, that is what makes the ratios
//! trustworthy. `benches/store/run.sh` starts a throwaway PostgreSQL, runs `pgbench -S` on it
//! for the read path, and runs this both ways.
//!
//! Run with: cargo bench -p orrery-benches --bench store

use std::hint::black_box;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use orrery_benches::{Shape, workflow};
use orrery_core::store::{GraphStore, GraphUpdate, NewGraph, NewUser, Role, UserStore};
use orrery_core::{AgentVersion, Digest, Graph, Plan};
use orrery_store::{Store, StoreOptions};
use sqlx::ConnectOptions as _;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use tokio::runtime::Runtime;
use uuid::Uuid;

/// Connections in each pool (store and bare alike): one per reading task.
const POOL: u32 = 8;
/// Concurrent reading tasks.
const TASKS: usize = 8;
/// Reads per task per iteration.
const READS_PER_TASK: usize = 250;
/// Graphs read at random.
const READ_SET: usize = 1_000;
/// Small graph inserts per iteration.
const INSERTS: usize = 10_000;

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let big = [1, 2].map(|seed| {
        let generated = workflow(&Shape {
            nodes: 10_000,
            nesting: 1,
            seed,
            ..Shape::default()
        });
        Graph::from_json(&generated.root).expect("generated graph parses")
    });
    let small = Graph::from_json(
        r#"{"schema":1,"nodes":[
            {"id":"question","kind":"input","outputs":[{"name":"value","type":"text"}],"position":[0,0,0]},
            {"id":"ask","kind":"prompt","config":{"template":"Answer: {{ question }}"},"inputs":[{"name":"text","type":"text"}],"outputs":[{"name":"text","type":"text"}]},
            {"id":"answer","kind":"output","inputs":[{"name":"value","type":"text"}]}],
          "edges":[{"from":"question.value","to":"ask.text"},{"from":"ask.text","to":"answer.value"}]}"#,
    )
    .expect("small graph parses");
    eprintln!(
        "10,000-node document: {} bytes of JSON; small document: {} bytes",
        big[0].to_json().len(),
        small.to_json().len()
    );

    let mut targets = vec![rt.block_on(Target::sqlite())];
    match std::env::var("ORRERY_BENCH_POSTGRES_URL") {
        Ok(url) => targets.push(rt.block_on(Target::postgres(&url))),
        Err(_) => eprintln!(
            "ORRERY_BENCH_POSTGRES_URL is not set: PostgreSQL is not measured \
             (benches/store/run.sh starts one)"
        ),
    }

    if std::env::var_os("ORRERY_STORE_BENCH_ROUNDS").is_some() {
        // The ratios: the variants take turns in rounds, so a machine shared with other work
        // slows them alike, and each ratio is the median of the rounds' ratios.
        println!(
            "| backend | scenario | store | bare sqlx | bare sqlx, SQL only | store / bare | store / SQL only |"
        );
        println!("| --- | --- | --- | --- | --- | --- | --- |");
        for target in &targets {
            rt.block_on(rounds(target, &big, &small));
        }
    } else {
        let mut c = Criterion::default().configure_from_args();
        for target in &targets {
            save_and_load(&mut c, &rt, target, &big);
            inserts(&mut c, &rt, target, &small);
            reads(&mut c, &rt, target, &small);
        }
        c.final_summary();
    }
    for target in targets {
        rt.block_on(target.finish());
    }
}

/// One batch of a variant: how long it took.
type Batch<'a> = Box<dyn FnMut() -> std::pin::Pin<Box<dyn Future<Output = Duration> + 'a>> + 'a>;

/// Runs `variants` (store, bare, bare_sql) in turns for `rounds` rounds, rotating who goes
/// first, and prints one table row: median time per operation and median ratios.
async fn compare(
    backend: &str,
    scenario: &str,
    ops: u32,
    rounds: usize,
    mut variants: Vec<Batch<'_>>,
) {
    let n = variants.len();
    let mut times = vec![Vec::with_capacity(rounds); n];
    for round in 0..rounds {
        for k in 0..n {
            let v = (round + k) % n;
            let spent = variants[v]().await;
            times[v].push(spent);
        }
    }
    let median = |mut xs: Vec<f64>| {
        xs.sort_by(f64::total_cmp);
        xs[xs.len() / 2]
    };
    let per_op: Vec<f64> = times
        .iter()
        .map(|t| median(t.iter().map(|d| d.as_secs_f64() / f64::from(ops)).collect()))
        .collect();
    let ratio = |other: usize| {
        if other >= n {
            return "–".to_owned();
        }
        let r = median(
            (0..rounds)
                .map(|i| times[0][i].as_secs_f64() / times[other][i].as_secs_f64())
                .collect(),
        );
        format!("{r:.3}")
    };
    let cell = |i: usize| per_op.get(i).map_or("–".to_owned(), |s| human(*s));
    println!(
        "| {backend} | {scenario} | {} | {} | {} | {} | {} |",
        cell(0),
        cell(1),
        cell(2),
        ratio(1),
        ratio(2)
    );
}

fn human(seconds: f64) -> String {
    if seconds >= 1.0 {
        format!("{seconds:.2} s")
    } else if seconds >= 1e-3 {
        format!("{:.2} ms", seconds * 1e3)
    } else {
        format!("{:.1} µs", seconds * 1e6)
    }
}

/// Every scenario of one backend, in interleaved rounds (times are per operation).
async fn rounds(t: &Target, big: &[Graph; 2], small: &Graph) {
    use std::cell::{Cell, RefCell};

    let prepared = big.each_ref().map(Prepared::new);

    // Save: each variant saves into a graph of its own, alternating two documents.
    let heads: Vec<(Uuid, Cell<Digest>, Cell<usize>)> = {
        let mut v = Vec::new();
        for name in ["store", "bare", "bare_sql"] {
            let (id, head) = t.store_graph(&format!("rounds save {name}"), &big[0]).await;
            v.push((id, Cell::new(head), Cell::new(0)));
        }
        v
    };
    let saves = 3;
    let variants: Vec<Batch<'_>> = vec![
        Box::new(|| {
            let (id, head, turn) = &heads[0];
            Box::pin(async move {
                let mut spent = Duration::ZERO;
                for _ in 0..saves {
                    turn.set(turn.get() + 1);
                    let update = GraphUpdate {
                        base: Some(head.get()),
                        author_id: t.owner,
                        document: Some(big[turn.get() % 2].clone()),
                        ..GraphUpdate::default()
                    };
                    let start = Instant::now();
                    let record = t.store.update_graph(*id, t.owner, update).await.unwrap();
                    spent += start.elapsed();
                    head.set(record.head);
                }
                spent
            })
        }),
        Box::new(|| {
            let (id, head, turn) = &heads[1];
            Box::pin(async move {
                let start = Instant::now();
                for _ in 0..saves {
                    turn.set(turn.get() + 1);
                    let doc = Prepared::new(&big[turn.get() % 2]);
                    head.set(t.bare.save(*id, t.owner, head.get(), &doc).await);
                }
                start.elapsed()
            })
        }),
        Box::new(|| {
            let (id, head, turn) = &heads[2];
            let prepared = &prepared;
            Box::pin(async move {
                let start = Instant::now();
                for _ in 0..saves {
                    turn.set(turn.get() + 1);
                    let doc = &prepared[turn.get() % 2];
                    head.set(t.bare.save(*id, t.owner, head.get(), doc).await);
                }
                start.elapsed()
            })
        }),
    ];
    compare(t.name, "save a 10,000-node graph", saves, 12, variants).await;

    // Load.
    let (id, _) = t.store_graph("rounds load", &big[0]).await;
    let loads = 10;
    let variants: Vec<Batch<'_>> = vec![
        Box::new(|| {
            Box::pin(async move {
                let start = Instant::now();
                for _ in 0..loads {
                    black_box(t.store.graph(id, Some(t.owner)).await.unwrap());
                }
                start.elapsed()
            })
        }),
        Box::new(|| {
            Box::pin(async move {
                let start = Instant::now();
                for _ in 0..loads {
                    let text = t.bare.load(id, t.owner).await;
                    black_box(Graph::from_json(&text).unwrap());
                }
                start.elapsed()
            })
        }),
        Box::new(|| {
            Box::pin(async move {
                let start = Instant::now();
                for _ in 0..loads {
                    black_box(t.bare.load(id, t.owner).await);
                }
                start.elapsed()
            })
        }),
    ];
    compare(t.name, "load a 10,000-node graph", loads, 15, variants).await;

    // Inserts: 20 rounds of 500, so each variant inserts 10,000 graphs.
    let inserts = 500;
    let counter = RefCell::new(0u64);
    let counter = &counter;
    let variants: Vec<Batch<'_>> = vec![
        Box::new(|| {
            Box::pin(async move {
                let mut spent = Duration::ZERO;
                for _ in 0..inserts {
                    *counter.borrow_mut() += 1;
                    let new = NewGraph {
                        owner_id: t.owner,
                        name: format!("rounds insert {}", counter.borrow()),
                        description: None,
                        agent_id: None,
                        is_public: false,
                        document: small.clone(),
                        max_graphs: None,
                        max_stored_bytes: None,
                    };
                    let start = Instant::now();
                    black_box(t.store.create_graph(new).await.unwrap());
                    spent += start.elapsed();
                }
                spent
            })
        }),
        Box::new(|| {
            Box::pin(async move {
                let start = Instant::now();
                for _ in 0..inserts {
                    *counter.borrow_mut() += 1;
                    let doc = Prepared::new(small);
                    let name = format!("rounds insert {}", counter.borrow());
                    black_box(t.bare.insert(t.owner, &name, &doc).await);
                }
                start.elapsed()
            })
        }),
    ];
    compare(
        t.name,
        "insert a small graph (x 10,000 = total)",
        inserts,
        20,
        variants,
    )
    .await;

    // Reads by id from 8 tasks.
    let mut ids = Vec::with_capacity(READ_SET);
    for i in 0..READ_SET {
        ids.push(
            t.store_graph_named(&format!("rounds read {i}"), small)
                .await
                .0,
        );
    }
    let ids = Arc::new(ids);
    let read_batch = |mode: &'static str| -> Batch<'_> {
        let ids = Arc::clone(&ids);
        Box::new(move || {
            let ids = Arc::clone(&ids);
            Box::pin(async move {
                let start = Instant::now();
                read_tasks(mode, &ids, &t.store, &t.bare, t.owner).await;
                start.elapsed()
            })
        })
    };
    let variants = vec![
        read_batch("store"),
        read_batch("bare"),
        read_batch("bare_sql"),
    ];
    compare(
        t.name,
        "read by id, 8 tasks (per read)",
        (TASKS * READS_PER_TASK) as u32,
        15,
        variants,
    )
    .await;
}

/// `TASKS` tasks reading `READS_PER_TASK` graphs each, through the store or bare sqlx.
async fn read_tasks(
    mode: &'static str,
    ids: &Arc<Vec<Uuid>>,
    store: &Store,
    bare: &Bare,
    owner: Uuid,
) {
    let mut tasks = Vec::with_capacity(TASKS);
    for task in 0..TASKS {
        let (ids, store, bare) = (Arc::clone(ids), store.clone(), bare.clone());
        tasks.push(tokio::spawn(async move {
            let mut at = task * 7919;
            for _ in 0..READS_PER_TASK {
                at = (at + 7919) % ids.len();
                let id = ids[at];
                match mode {
                    "store" => {
                        black_box(store.graph(id, Some(owner)).await.unwrap());
                    }
                    "bare" => {
                        let text = bare.load(id, owner).await;
                        black_box(Graph::from_json(&text).unwrap());
                    }
                    _ => {
                        black_box(bare.load(id, owner).await);
                    }
                }
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
}

fn save_and_load(c: &mut Criterion, rt: &Runtime, t: &Target, big: &[Graph; 2]) {
    let prepared = big.each_ref().map(Prepared::new);
    let mut group = c.benchmark_group(format!("store_{}/save_10k_nodes", t.name));
    group.sample_size(20);
    group.measurement_time(Duration::from_secs(15));

    // Each function saves into a graph of its own, alternating two documents so that every
    // save is a new version of about 2 MB.
    let store_graph = rt.block_on(t.store_graph("save store", &big[0]));
    let mut head = store_graph.1;
    let mut turn = 0;
    group.bench_function("store", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let mut spent = Duration::ZERO;
                for _ in 0..iters {
                    turn += 1;
                    let update = GraphUpdate {
                        base: Some(head),
                        author_id: t.owner,
                        document: Some(big[turn % 2].clone()),
                        ..GraphUpdate::default()
                    };
                    let start = Instant::now();
                    let record = t
                        .store
                        .update_graph(store_graph.0, t.owner, update)
                        .await
                        .unwrap();
                    spent += start.elapsed();
                    head = record.head;
                }
                spent
            })
        })
    });
    for (name, prepare_inside) in [("bare", true), ("bare_sql", false)] {
        let graph = rt.block_on(t.store_graph(&format!("save {name}"), &big[0]));
        let mut head = graph.1;
        let mut turn = 0;
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let start = Instant::now();
                    for _ in 0..iters {
                        turn += 1;
                        let doc = if prepare_inside {
                            Prepared::new(&big[turn % 2])
                        } else {
                            prepared[turn % 2].clone()
                        };
                        head = t.bare.save(graph.0, t.owner, head, &doc).await;
                    }
                    start.elapsed()
                })
            })
        });
    }
    group.finish();

    let mut group = c.benchmark_group(format!("store_{}/load_10k_nodes", t.name));
    group.sample_size(20);
    let (id, _) = rt.block_on(t.store_graph("load", &big[0]));
    group.bench_function("store", |b| {
        b.iter(|| rt.block_on(async { black_box(t.store.graph(id, Some(t.owner)).await.unwrap()) }))
    });
    group.bench_function("bare", |b| {
        b.iter(|| {
            rt.block_on(async {
                let text = t.bare.load(id, t.owner).await;
                black_box(Graph::from_json(&text).unwrap())
            })
        })
    });
    group.bench_function("bare_sql", |b| {
        b.iter(|| rt.block_on(async { black_box(t.bare.load(id, t.owner).await) }))
    });
    group.finish();
}

fn inserts(c: &mut Criterion, rt: &Runtime, t: &Target, small: &Graph) {
    let mut group = c.benchmark_group(format!("store_{}/insert_10k_small_graphs", t.name));
    group.sample_size(10);
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(30));
    group.throughput(Throughput::Elements(INSERTS as u64));
    let mut n = 0u64;
    group.bench_function("store", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let mut spent = Duration::ZERO;
                for _ in 0..iters * INSERTS as u64 {
                    n += 1;
                    let new = NewGraph {
                        owner_id: t.owner,
                        name: format!("store insert {n}"),
                        description: None,
                        agent_id: None,
                        is_public: false,
                        document: small.clone(),
                        max_graphs: None,
                        max_stored_bytes: None,
                    };
                    let start = Instant::now();
                    black_box(t.store.create_graph(new).await.unwrap());
                    spent += start.elapsed();
                }
                spent
            })
        })
    });
    group.bench_function("bare", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters * INSERTS as u64 {
                    n += 1;
                    let doc = Prepared::new(small);
                    black_box(
                        t.bare
                            .insert(t.owner, &format!("bare insert {n}"), &doc)
                            .await,
                    );
                }
                start.elapsed()
            })
        })
    });
    group.finish();
}

fn reads(c: &mut Criterion, rt: &Runtime, t: &Target, small: &Graph) {
    let ids: Arc<Vec<Uuid>> = Arc::new(rt.block_on(async {
        let mut ids = Vec::with_capacity(READ_SET);
        for i in 0..READ_SET {
            ids.push(t.store_graph_named(&format!("read {i}"), small).await.0);
        }
        ids
    }));
    let mut group = c.benchmark_group(format!("store_{}/read_by_id_8_tasks", t.name));
    group.sample_size(20);
    group.throughput(Throughput::Elements((TASKS * READS_PER_TASK) as u64));
    for name in ["store", "bare", "bare_sql"] {
        group.bench_function(name, |b| {
            b.iter(|| rt.block_on(read_tasks(name, &ids, &t.store, &t.bare, t.owner)))
        });
    }
    group.finish();
}

/// One backend: the store, a bare pool on the same database, and an account.
struct Target {
    name: &'static str,
    store: Store,
    bare: Bare,
    owner: Uuid,
    /// What to remove at the end: a SQLite directory, or a PostgreSQL database.
    cleanup: Cleanup,
}

enum Cleanup {
    Dir(std::path::PathBuf),
    Database { admin_url: String, name: String },
}

impl Target {
    async fn sqlite() -> Target {
        let dir = std::env::temp_dir().join(format!("orrery-bench-{}", Uuid::now_v7().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("bench.db");
        let url = format!("sqlite://{}?mode=rwc", path.display());
        let store = Store::connect(&url, options()).await.unwrap();
        // The same settings the store uses.
        let bare = SqlitePoolOptions::new()
            .max_connections(POOL)
            .connect_with(
                SqliteConnectOptions::from_str(&url)
                    .unwrap()
                    .foreign_keys(true)
                    .busy_timeout(Duration::from_secs(10))
                    .synchronous(SqliteSynchronous::Normal)
                    .journal_mode(SqliteJournalMode::Wal),
            )
            .await
            .unwrap();
        Target::new("sqlite", store, Bare::Sqlite(bare), Cleanup::Dir(dir)).await
    }

    async fn postgres(admin_url: &str) -> Target {
        let name = format!("orrery_bench_{}", Uuid::now_v7().simple());
        let admin = PgConnectOptions::from_str(admin_url).unwrap();
        let mut conn = admin.connect().await.unwrap();
        sqlx::query(sqlx::AssertSqlSafe(format!("create database {name}")))
            .execute(&mut conn)
            .await
            .unwrap();
        let options_db = admin.clone().database(&name);
        let url = options_db.to_url_lossy().to_string();
        let store = Store::connect(&url, options()).await.unwrap();
        let bare = PgPoolOptions::new()
            .max_connections(POOL)
            .connect_with(options_db)
            .await
            .unwrap();
        let cleanup = Cleanup::Database {
            admin_url: admin_url.to_owned(),
            name,
        };
        Target::new("postgres", store, Bare::Postgres(bare), cleanup).await
    }

    async fn new(name: &'static str, store: Store, bare: Bare, cleanup: Cleanup) -> Target {
        let owner = store
            .create_user(NewUser {
                email: "bench@example.com".to_owned(),
                name: "Bench".to_owned(),
                password_hash: None,
                google_sub: None,
                role: Role::User,
                plan: Plan::Enterprise,
                trial_ends_at: None,
            })
            .await
            .unwrap()
            .id;
        Target {
            name,
            store,
            bare,
            owner,
            cleanup,
        }
    }

    async fn store_graph(&self, name: &str, document: &Graph) -> (Uuid, Digest) {
        self.store_graph_named(name, document).await
    }

    async fn store_graph_named(&self, name: &str, document: &Graph) -> (Uuid, Digest) {
        let record = self
            .store
            .create_graph(NewGraph {
                owner_id: self.owner,
                name: name.to_owned(),
                description: None,
                agent_id: None,
                is_public: false,
                document: document.clone(),
                max_graphs: None,
                max_stored_bytes: None,
            })
            .await
            .unwrap();
        (record.id, record.head)
    }

    async fn finish(self) {
        self.store.close().await;
        match self.bare {
            Bare::Sqlite(pool) => pool.close().await,
            Bare::Postgres(pool) => pool.close().await,
        }
        match self.cleanup {
            Cleanup::Dir(dir) => {
                let _ = std::fs::remove_dir_all(dir);
            }
            Cleanup::Database { admin_url, name } => {
                let mut conn = PgConnectOptions::from_str(&admin_url)
                    .unwrap()
                    .connect()
                    .await
                    .unwrap();
                let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "drop database if exists {name} with (force)"
                )))
                .execute(&mut conn)
                .await;
            }
        }
    }
}

fn options() -> StoreOptions {
    StoreOptions {
        max_connections: POOL,
        ..StoreOptions::default()
    }
}

/// A document as the statements take it.
#[derive(Clone)]
struct Prepared {
    json: String,
    digest: Vec<u8>,
    node_count: i64,
    refs: Vec<(String, String, Option<Vec<u8>>)>,
}

impl Prepared {
    fn new(graph: &Graph) -> Prepared {
        Prepared {
            json: graph.to_json(),
            digest: graph.digest().as_bytes().to_vec(),
            node_count: graph.nodes.len() as i64,
            refs: graph
                .nodes
                .iter()
                .filter_map(|node| {
                    let agent = node.agent.as_ref()?;
                    let pinned = match agent.version {
                        AgentVersion::Pinned(d) => Some(d.as_bytes().to_vec()),
                        AgentVersion::Latest => None,
                    };
                    Some((node.id.clone(), agent.id.clone(), pinned))
                })
                .collect(),
        }
    }
}

/// A bare sqlx pool on the store's database.
#[derive(Clone)]
enum Bare {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
}

/// Runs `$body` with `$pool` bound to the bare pool and `$pg` to whether it is PostgreSQL.
macro_rules! bare {
    ($bare:expr, |$pool:ident, $pg:ident| $body:expr) => {
        match $bare {
            Bare::Sqlite($pool) => {
                let $pg = false;
                $body
            }
            Bare::Postgres($pool) => {
                let $pg = true;
                $body
            }
        }
    };
}

impl Bare {
    /// The statements of `GraphStore::update_graph` with a new document.
    async fn save(&self, id: Uuid, owner: Uuid, base: Digest, doc: &Prepared) -> Digest {
        let now = time::OffsetDateTime::now_utc();
        bare!(self, |pool, pg| {
            let mut tx = if pg {
                pool.begin().await.unwrap()
            } else {
                pool.begin_with("begin immediate").await.unwrap()
            };
            let lock = if pg {
                "select head, version_count from graphs where id = $1 and owner_id = $2 for update"
            } else {
                "select head, version_count from graphs where id = $1 and owner_id = $2"
            };
            let (head, count): (Vec<u8>, i64) = sqlx::query_as(lock)
                .bind(id)
                .bind(owner)
                .fetch_one(&mut *tx)
                .await
                .unwrap();
            assert_eq!(head, base.as_bytes());
            sqlx::query(
                "insert into graph_versions (graph_id, seq, digest, parent, author_id, \
                 created_at, node_count, document) values ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(id)
            .bind(count + 1)
            .bind(&doc.digest)
            .bind(&head)
            .bind(owner)
            .bind(ts(now, pg))
            .bind(doc.node_count)
            .bind(&doc.json)
            .execute(&mut *tx)
            .await
            .unwrap();
            sqlx::query("delete from graph_agent_refs where graph_id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await
                .unwrap();
            for chunk in doc.refs.chunks(1_000) {
                let mut qb = sqlx::QueryBuilder::new(
                    "insert into graph_agent_refs (graph_id, node, agent_id, pinned) ",
                );
                qb.push_values(chunk, |mut row, (node, agent, pinned)| {
                    row.push_bind(id)
                        .push_bind(node)
                        .push_bind(agent)
                        .push_bind(pinned);
                });
                qb.build().execute(&mut *tx).await.unwrap();
            }
            let update = if pg {
                "update graphs set updated_at = $1, head = $2, version_count = $3, \
                 node_count = $4, graph_data = $5::jsonb where id = $6 and head = $7"
            } else {
                "update graphs set updated_at = $1, head = $2, version_count = $3, \
                 node_count = $4, graph_data = $5 where id = $6 and head = $7"
            };
            let done = sqlx::query(update)
                .bind(ts(now, pg))
                .bind(&doc.digest)
                .bind(count + 1)
                .bind(doc.node_count)
                .bind(&doc.json)
                .bind(id)
                .bind(&head)
                .execute(&mut *tx)
                .await
                .unwrap();
            assert_eq!(done.rows_affected(), 1);
            tx.commit().await.unwrap();
        });
        Digest::from_bytes(doc.digest.clone().try_into().unwrap())
    }

    /// The statement of `GraphStore::graph`: the row with its document as text.
    async fn load(&self, id: Uuid, viewer: Uuid) -> String {
        type Row = (
            Uuid,
            Uuid,
            String,
            Option<String>,
            Option<String>,
            bool,
            Vec<u8>,
            i64,
            i64,
            String,
        );
        bare!(self, |pool, pg| {
            let sql = if pg {
                "select id, owner_id, name, description, agent_id, is_public, head, \
                 version_count, node_count, graph_data::text from graphs \
                 where id = $1 and (is_public or owner_id = $2)"
            } else {
                "select id, owner_id, name, description, agent_id, is_public, head, \
                 version_count, node_count, graph_data from graphs \
                 where id = $1 and (is_public or owner_id = $2)"
            };
            let row: Row = sqlx::query_as(sql)
                .bind(id)
                .bind(viewer)
                .fetch_one(pool)
                .await
                .unwrap();
            row.9
        })
    }

    /// The statements of `GraphStore::create_graph`.
    async fn insert(&self, owner: Uuid, name: &str, doc: &Prepared) -> Uuid {
        let id = Uuid::now_v7();
        let now = time::OffsetDateTime::now_utc();
        bare!(self, |pool, pg| {
            let mut tx = if pg {
                pool.begin().await.unwrap()
            } else {
                pool.begin_with("begin immediate").await.unwrap()
            };
            let insert = if pg {
                "insert into graphs (id, owner_id, name, description, agent_id, is_public, head, \
                 version_count, node_count, graph_data, created_at, updated_at) \
                 values ($1, $2, $3, $4, $5, $6, $7, 1, $8, $9::jsonb, $10, $10)"
            } else {
                "insert into graphs (id, owner_id, name, description, agent_id, is_public, head, \
                 version_count, node_count, graph_data, created_at, updated_at) \
                 values ($1, $2, $3, $4, $5, $6, $7, 1, $8, $9, $10, $10)"
            };
            sqlx::query(insert)
                .bind(id)
                .bind(owner)
                .bind(name)
                .bind(None::<String>)
                .bind(None::<String>)
                .bind(false)
                .bind(&doc.digest)
                .bind(doc.node_count)
                .bind(&doc.json)
                .bind(ts(now, pg))
                .execute(&mut *tx)
                .await
                .unwrap();
            sqlx::query(
                "insert into graph_versions (graph_id, seq, digest, parent, author_id, \
                 created_at, node_count, document) values ($1, 1, $2, null, $3, $4, $5, $6)",
            )
            .bind(id)
            .bind(&doc.digest)
            .bind(owner)
            .bind(ts(now, pg))
            .bind(doc.node_count)
            .bind(&doc.json)
            .execute(&mut *tx)
            .await
            .unwrap();
            tx.commit().await.unwrap();
        });
        id
    }
}

/// A time as the store's schema holds it: `timestamptz` on PostgreSQL, integer microseconds on
/// SQLite.
fn ts(at: time::OffsetDateTime, pg: bool) -> TimeValue {
    if pg {
        TimeValue::Pg(at)
    } else {
        TimeValue::Micros((at.unix_timestamp_nanos() / 1_000) as i64)
    }
}

/// Either form of [`ts`], bindable on both backends.
enum TimeValue {
    Pg(time::OffsetDateTime),
    Micros(i64),
}

impl sqlx::Type<sqlx::Sqlite> for TimeValue {
    fn type_info() -> sqlx::sqlite::SqliteTypeInfo {
        <i64 as sqlx::Type<sqlx::Sqlite>>::type_info()
    }
}

impl sqlx::Encode<'_, sqlx::Sqlite> for TimeValue {
    fn encode_by_ref(
        &self,
        buf: &mut <sqlx::Sqlite as sqlx::Database>::ArgumentBuffer,
    ) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
        match self {
            TimeValue::Micros(m) => <i64 as sqlx::Encode<'_, sqlx::Sqlite>>::encode_by_ref(m, buf),
            TimeValue::Pg(_) => Err("a postgres time on sqlite".into()),
        }
    }
}

impl sqlx::Type<sqlx::Postgres> for TimeValue {
    fn type_info() -> sqlx::postgres::PgTypeInfo {
        <time::OffsetDateTime as sqlx::Type<sqlx::Postgres>>::type_info()
    }
}

impl sqlx::Encode<'_, sqlx::Postgres> for TimeValue {
    fn encode_by_ref(
        &self,
        buf: &mut sqlx::postgres::PgArgumentBuffer,
    ) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
        match self {
            TimeValue::Pg(at) => {
                <time::OffsetDateTime as sqlx::Encode<'_, sqlx::Postgres>>::encode_by_ref(at, buf)
            }
            TimeValue::Micros(_) => Err("a sqlite time on postgres".into()),
        }
    }
}
