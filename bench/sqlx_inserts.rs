//! sqlx alone, without essh: 10,000 bound inserts in one transaction, one statement at a time,
//! on a tokio runtime of either shape (`multi`: blocking on a multi-thread runtime whose worker
//! takes the socket's readiness and wakes the waiting thread; `current`: the waiting thread
//! drives the socket itself, as essh's Lua thread does with its database connections).
//! bench/sqlx_inserts.lua runs it beside essh and LuaSQL.
//!
//! cargo run --release --locked --features lua54,module --example sqlx_inserts -- mysql URL multi

use std::time::Instant;

use sqlx::Connection;

const INSERTS: i64 = 10_000;

/// CPU seconds of this process so far (every thread).
fn cpu() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("/proc/self/stat");
    let after_name = &stat[stat.rfind(')').expect("a stat line") + 2..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks: f64 = fields[11].parse::<f64>().unwrap_or(0.0) + fields[12].parse::<f64>().unwrap_or(0.0);
    ticks / 100.0
}

macro_rules! inserts {
    ($conn:ty, $url:expr, $insert:expr) => {{
        let mut c = <$conn>::connect($url).await?;
        sqlx::query("DROP TABLE IF EXISTS bench_sqlx").execute(&mut c).await?;
        sqlx::query("CREATE TABLE bench_sqlx (id BIGINT PRIMARY KEY, name VARCHAR(64), score DOUBLE PRECISION)")
            .execute(&mut c)
            .await?;
        let (wall, cpu0) = (Instant::now(), cpu());
        let mut tx = c.begin().await?;
        for i in 1..=INSERTS {
            sqlx::query($insert).bind(i).bind(format!("it's {i}")).bind(i as f64 / 3.0).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok::<(f64, f64), sqlx::Error>((wall.elapsed().as_secs_f64(), cpu() - cpu0))
    }};
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, driver, url, shape] = &args[..] else {
        return Err("usage: sqlx_inserts mysql|postgres URL multi|current".into());
    };
    let rt = match shape.as_str() {
        "current" => tokio::runtime::Builder::new_current_thread().enable_all().build()?,
        _ => tokio::runtime::Builder::new_multi_thread().enable_all().build()?,
    };
    let (wall, cpu) = rt.block_on(async {
        match driver.as_str() {
            "mysql" => inserts!(sqlx::MySqlConnection, url, "INSERT INTO bench_sqlx VALUES (?, ?, ?)"),
            _ => inserts!(sqlx::PgConnection, url, "INSERT INTO bench_sqlx VALUES ($1, $2, $3)"),
        }
    })?;
    println!("{:.0} {:.1}", INSERTS as f64 / wall, cpu / INSERTS as f64 * 1e6);
    Ok(())
}
