//! Turning PostgreSQL's errors, as sqlx reports them, into the store's domain errors.

use confidant_core::StoreError;

/// The unique constraints the use cases care to tell apart, by constraint name.
const NAMED_UNIQUES: &[(&str, &str)] = &[
    ("members_handle_key", "handle"),
    ("conversations_direct_key_key", "direct_key"),
    ("apps_pkey", "client_id"),
];

pub(crate) fn store_error(error: sqlx::Error) -> StoreError {
    match error {
        sqlx::Error::RowNotFound => StoreError::NotFound,
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            let text = db.constraint().unwrap_or_else(|| db.message()).to_owned();
            let which = NAMED_UNIQUES
                .iter()
                .find(|(needle, _)| text.contains(needle))
                .map_or("unique", |(_, name)| name);
            StoreError::Conflict(which)
        }
        other => StoreError::Backend(Box::new(other)),
    }
}

/// `?`-friendly conversion for sqlx results.
pub(crate) trait ResultExt<T> {
    fn store(self) -> Result<T, StoreError>;
}

impl<T> ResultExt<T> for Result<T, sqlx::Error> {
    fn store(self) -> Result<T, StoreError> {
        self.map_err(store_error)
    }
}
