//! The SQLite and PostgreSQL schemas stay alike: the same tables, the same columns in each, and
//! the same primary keys and unique constraints (by their columns: SQLite names the index of a
//! `unique` constraint itself). A migration added to one backend only fails here.

use std::collections::BTreeSet;

use crate::harness::{self, Raw};

/// What is compared: `table`, `table.column`, and `table: primary key (a, b)` or
/// `table: unique (a, b)`.
type Schema = BTreeSet<String>;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_and_postgres_declare_the_same_tables_columns_and_unique_keys() {
    let Some(postgres) = harness::postgres().await else {
        return;
    };
    let sqlite = harness::sqlite().await;
    let (Raw::Sqlite(lite), Raw::Postgres(pg)) = (sqlite.raw().await, postgres.raw().await) else {
        panic!("the harness gave the wrong backends");
    };
    let lite_schema = sqlite_schema(&lite).await;
    let pg_schema = postgres_schema(&pg).await;
    assert!(
        lite_schema
            .iter()
            .any(|s| s == "graphs: unique (name, owner_id)"),
        "the reader finds unique constraints: {lite_schema:#?}"
    );
    let only_sqlite: Vec<&String> = lite_schema.difference(&pg_schema).collect();
    let only_postgres: Vec<&String> = pg_schema.difference(&lite_schema).collect();
    assert!(
        only_sqlite.is_empty() && only_postgres.is_empty(),
        "the schemas differ\nonly on SQLite: {only_sqlite:#?}\nonly on PostgreSQL: {only_postgres:#?}"
    );
    lite.close().await;
    pg.close().await;
    sqlite.finish().await;
    postgres.finish().await;
}

async fn sqlite_schema(pool: &sqlx::SqlitePool) -> Schema {
    let mut schema = Schema::new();
    let tables: Vec<String> = sqlx::query_scalar(
        "select name from sqlite_master where type = 'table' \
         and name not like 'sqlite_%' and name not like '_sqlx%'",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    for table in tables {
        schema.insert(table.clone());
        let columns: Vec<(String, i64)> =
            sqlx::query_as("select name, pk from pragma_table_info($1)")
                .bind(&table)
                .fetch_all(pool)
                .await
                .unwrap();
        let mut key: Vec<&str> = Vec::new();
        for (column, pk) in &columns {
            schema.insert(format!("{table}.{column}"));
            if *pk > 0 {
                key.push(column);
            }
        }
        if !key.is_empty() {
            schema.insert(keyed(&table, "primary key", key));
        }
        // The primary key's own index (origin `pk`) is covered above.
        let indexes: Vec<String> = sqlx::query_scalar(
            "select name from pragma_index_list($1) where \"unique\" = 1 and origin != 'pk'",
        )
        .bind(&table)
        .fetch_all(pool)
        .await
        .unwrap();
        for index in indexes {
            let columns: Vec<String> = sqlx::query_scalar("select name from pragma_index_info($1)")
                .bind(&index)
                .fetch_all(pool)
                .await
                .unwrap();
            schema.insert(keyed(
                &table,
                "unique",
                columns.iter().map(String::as_str).collect(),
            ));
        }
    }
    schema
}

async fn postgres_schema(pool: &sqlx::PgPool) -> Schema {
    let mut schema = Schema::new();
    let tables: Vec<String> = sqlx::query_scalar(
        "select table_name::text from information_schema.tables where table_schema = 'public' \
         and table_type = 'BASE TABLE' and table_name not like '\\_sqlx%'",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    schema.extend(tables);
    let columns: Vec<(String, String)> = sqlx::query_as(
        "select table_name::text, column_name::text from information_schema.columns \
         where table_schema = 'public' and table_name not like '\\_sqlx%'",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    schema.extend(columns.iter().map(|(t, c)| format!("{t}.{c}")));
    // Unique constraints and unique indexes alike (partial ones included), by their columns.
    let unique: Vec<(String, String, bool)> = sqlx::query_as(
        "select t.relname::text, array_to_string(array(select a.attname::text from \
         unnest(ix.indkey) k join pg_attribute a on a.attrelid = t.oid and a.attnum = k), ','), \
         ix.indisprimary from pg_index ix join pg_class t on t.oid = ix.indrelid \
         join pg_namespace n on n.oid = t.relnamespace \
         where n.nspname = 'public' and ix.indisunique and t.relname not like '\\_sqlx%'",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    for (table, columns, primary) in unique {
        let kind = if primary { "primary key" } else { "unique" };
        schema.insert(keyed(&table, kind, columns.split(',').collect()));
    }
    schema
}

fn keyed(table: &str, kind: &str, mut columns: Vec<&str>) -> String {
    columns.sort_unstable();
    format!("{table}: {kind} ({})", columns.join(", "))
}
