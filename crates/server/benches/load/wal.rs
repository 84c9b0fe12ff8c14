//! Where a workload's commits write: the pages in SQLite's write-ahead log, by the table or
//! index each belongs to. Every page a commit changes is appended to the log whole (4 KiB),
//! and the writer's time goes into writing and syncing those pages, so pages per commit is
//! the send path's cost on the disk side.
//!
//! The log is read as the file format describes it (<https://sqlite.org/fileformat2.html>,
//! "The Write-Ahead Log"): a 32-byte header, then frames of a 24-byte header and a page, the
//! last frame of each commit marked. The writer starts the log over every 16 MiB, writing
//! from its beginning again, so after a few seconds of sends every frame in the file was
//! written by them (the last generation's over the older ones'): all of them are counted.
//! Pages are named with the `dbstat` table, read after the workload, so the pages it added
//! are named too.

use std::collections::HashMap;
use std::path::Path;

/// The log's pages, counted by what they belong to, and the commits that wrote them.
pub struct WalPages {
    pub commits: u64,
    /// (table or index, pages), most first.
    pub by_object: Vec<(String, u64)>,
}

impl WalPages {
    pub fn per_commit(&self) -> f64 {
        let pages: u64 = self.by_object.iter().map(|(_, pages)| pages).sum();
        pages as f64 / self.commits.max(1) as f64
    }
}

const HEADER: usize = 32;
const FRAME_HEADER: usize = 24;

/// Reads the log of the database at `database` (its `-wal` file beside it).
pub fn pages_by_object(database: &Path) -> WalPages {
    let mut wal_path = database.as_os_str().to_owned();
    wal_path.push("-wal");
    let wal = std::fs::read(&wal_path).unwrap_or_default();
    if wal.len() < HEADER {
        return WalPages {
            commits: 0,
            by_object: Vec::new(),
        };
    }
    let be32 = |at: usize| u32::from_be_bytes(wal[at..at + 4].try_into().unwrap());
    let page_size = be32(8) as usize;
    let mut pages = Vec::new();
    let mut commits = 0;
    let mut at = HEADER;
    while at + FRAME_HEADER + page_size <= wal.len() {
        pages.push(be32(at));
        commits += u64::from(be32(at + 4) != 0);
        at += FRAME_HEADER + page_size;
    }

    let conn = rusqlite::Connection::open(database).unwrap();
    let mut select = conn.prepare("SELECT name, pageno FROM dbstat").unwrap();
    let owner: HashMap<u32, String> = select
        .query_map([], |row| Ok((row.get(1)?, row.get(0)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let mut counts: HashMap<&str, u64> = HashMap::new();
    for page in &pages {
        let name = owner.get(page).map_or("(free or new)", String::as_str);
        *counts.entry(name).or_default() += 1;
    }
    let mut by_object: Vec<(String, u64)> = counts
        .into_iter()
        .map(|(name, pages)| (name.to_owned(), pages))
        .collect();
    by_object.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    WalPages { commits, by_object }
}
