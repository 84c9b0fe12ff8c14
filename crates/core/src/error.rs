//! The errors a use case can answer with. Each carries a stable machine-readable code that the
//! HTTP layer puts in `{"error": code, "message": ...}`.

/// Why a use case refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The input does not meet a rule; `field` names the offending input.
    #[error("{message}")]
    Invalid {
        field: &'static str,
        code: &'static str,
        message: String,
    },
    /// The request clashes with existing state (a taken handle, an existing request).
    #[error("{message}")]
    Conflict {
        field: Option<&'static str>,
        code: &'static str,
        message: String,
    },
    /// The caller may not do this (not friends, blocked, not a member, a wrong current
    /// password); `field` names the input at fault, when there is one.
    #[error("{message}")]
    Forbidden {
        field: Option<&'static str>,
        code: &'static str,
        message: String,
    },
    /// No such thing, or the caller may not know whether it exists.
    #[error("not found")]
    NotFound,
    /// Wrong handle or password, or an expired session. Deliberately says no more.
    #[error("invalid credentials")]
    Unauthorized,
    /// Too many failed attempts; try again later.
    #[error("too many attempts; try again in {retry_after_secs} seconds")]
    Throttled { retry_after_secs: u64 },
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A failure that is not the caller's fault and not the store's (e.g. a panicked worker).
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    pub fn invalid(field: &'static str, code: &'static str, message: impl Into<String>) -> Self {
        Error::Invalid {
            field,
            code,
            message: message.into(),
        }
    }

    pub fn forbidden(code: &'static str, message: impl Into<String>) -> Self {
        Error::Forbidden {
            field: None,
            code,
            message: message.into(),
        }
    }

    pub fn conflict(
        field: Option<&'static str>,
        code: &'static str,
        message: impl Into<String>,
    ) -> Self {
        Error::Conflict {
            field,
            code,
            message: message.into(),
        }
    }

    /// A store error as the use case's answer: a missing row is this use case's `NotFound`.
    pub(crate) fn from_missing(error: StoreError) -> Self {
        match error {
            StoreError::NotFound => Error::NotFound,
            other => other.into(),
        }
    }

    /// The stable code clients can match on.
    pub fn code(&self) -> &'static str {
        match self {
            Error::Invalid { code, .. }
            | Error::Conflict { code, .. }
            | Error::Forbidden { code, .. } => code,
            Error::NotFound => "not_found",
            Error::Unauthorized => "unauthorized",
            Error::Throttled { .. } => "too_many_requests",
            Error::Store(_) | Error::Internal(_) => "internal",
        }
    }

    /// The input field the error is about, for forms that show errors beside fields.
    pub fn field(&self) -> Option<&'static str> {
        match self {
            Error::Invalid { field, .. } => Some(field),
            Error::Conflict { field, .. } | Error::Forbidden { field, .. } => *field,
            _ => None,
        }
    }
}

/// A failure inside a storage backend.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A uniqueness rule was violated; the string names which (e.g. `"handle"`).
    #[error("unique constraint violated: {0}")]
    Conflict(&'static str),
    /// A row the operation depends on does not exist (or no longer does).
    #[error("not found")]
    NotFound,
    /// Anything else: connection, I/O, a bug in SQL.
    #[error("storage backend: {0}")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
}
