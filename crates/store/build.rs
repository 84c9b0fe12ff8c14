// `sqlx::migrate!` embeds the migration files at build time; without this, a new migration
// would not rebuild the crate that embeds them.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
