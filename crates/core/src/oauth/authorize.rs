//! The authorization endpoint's logic: validating a request, deciding whether the member
//! must be asked, recording their consent, and issuing a single-use code.

use super::{AuthorizationDetails, CodeChallenge, Scope, Scopes, THREAD_GRANT_MAX_DAYS};
use crate::accesslog::Action;
use crate::store::{App, AppStatus, AuthorizationCode, Grant, GrantUpdate, Member, NewLogEntry};
use crate::{Confidant, ConversationId, Error, tokens};

/// The query of `GET /oauth/authorize` (and the hidden fields of the consent form), before
/// validation.
#[derive(Debug, Clone, Default)]
pub struct AuthorizationRequest {
    pub response_type: Option<String>,
    pub client_id: Option<String>,
    pub redirect_uri: Option<String>,
    pub scope: Option<String>,
    pub state: Option<String>,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
    pub authorization_details: Option<String>,
}

/// A request that passed every check; what the consent screen shows.
#[derive(Debug, Clone)]
pub struct ValidAuthorization {
    pub app: App,
    pub redirect_uri: String,
    pub state: Option<String>,
    pub scopes: Scopes,
    pub challenge: CodeChallenge,
    pub details: AuthorizationDetails,
}

/// Why an authorization request was refused, and where to say so.
#[derive(Debug, thiserror::Error)]
pub enum AuthorizationError {
    /// The client or redirect URI cannot be trusted, so the member sees an error page and
    /// is never redirected (RFC 6749 §4.1.2.1).
    #[error("{0}")]
    NoRedirect(String),
    /// The error goes back to the app at its (verified) redirect URI.
    #[error("{description}")]
    Redirect {
        redirect_uri: String,
        state: Option<String>,
        code: &'static str,
        description: String,
    },
    #[error(transparent)]
    Internal(#[from] Error),
}

/// What the member decided on the consent screen.
#[derive(Debug, Clone)]
pub struct Consent {
    /// The scopes left ticked; a subset of those requested.
    pub scopes: Scopes,
    /// Conversations picked for `thread_read`.
    pub threads: Vec<ConversationId>,
    /// How long the thread grants last.
    pub thread_days: i64,
    /// Whether the picked threads' earlier messages may be read too (by default only those
    /// from now on).
    pub share_history: bool,
}

impl Confidant {
    /// Checks an authorization request in the order RFC 6749 requires: first the client
    /// and redirect URI (failures are not redirected), then everything else (failures are).
    pub async fn check_authorization(
        &self,
        request: &AuthorizationRequest,
    ) -> Result<ValidAuthorization, AuthorizationError> {
        let no_redirect = |message: &str| AuthorizationError::NoRedirect(message.to_owned());
        let client_id = request
            .client_id
            .as_deref()
            .ok_or_else(|| no_redirect("The request names no app (client_id is missing)."))?;
        let app = self
            .store
            .app(client_id)
            .await
            .map_err(Error::from)?
            .filter(|app| app.status == AppStatus::Approved)
            .ok_or_else(|| no_redirect("This app is unknown, or not approved on this server."))?;
        let redirect_uri = request
            .redirect_uri
            .as_deref()
            .ok_or_else(|| no_redirect("The request has no redirect_uri."))?;
        if !super::redirect_uri_matches(&app.redirect_uris, redirect_uri, !app.confidential) {
            return Err(no_redirect(
                "The redirect_uri is not one this app registered, so we will not send you there.",
            ));
        }
        let redirect = |code: &'static str, description: String| AuthorizationError::Redirect {
            redirect_uri: redirect_uri.to_owned(),
            state: request.state.clone(),
            code,
            description,
        };
        match request.response_type.as_deref() {
            Some("code") => {}
            None => {
                return Err(redirect(
                    "invalid_request",
                    "response_type is required".into(),
                ));
            }
            Some(_) => {
                return Err(redirect(
                    "unsupported_response_type",
                    "only response_type=code is supported".into(),
                ));
            }
        }
        let invalid = |error: Error| match error {
            Error::Invalid { code, message, .. } => redirect(code, message),
            other => AuthorizationError::Internal(other),
        };
        let challenge = CodeChallenge::parse(
            request.code_challenge.as_deref(),
            request.code_challenge_method.as_deref(),
        )
        .map_err(invalid)?;
        let scopes = match request.scope.as_deref() {
            Some(scope) if !scope.trim().is_empty() => Scopes::parse(scope).map_err(invalid)?,
            _ => [Scope::Profile].into_iter().collect(),
        };
        if !scopes.is_subset(&app.scopes) {
            return Err(redirect(
                "invalid_scope",
                format!("this app may ask only for: {}", app.scopes),
            ));
        }
        let details = AuthorizationDetails::parse(request.authorization_details.as_deref())
            .map_err(invalid)?;
        Ok(ValidAuthorization {
            redirect_uri: redirect_uri.to_owned(),
            state: request.state.clone(),
            app,
            scopes,
            challenge,
            details,
        })
    }

    /// Issues a code at once if the member already granted everything this request asks
    /// for, so the consent screen can be skipped; `None` means the member must be asked.
    /// Thread access is always picked by hand.
    pub async fn authorize_without_asking(
        &self,
        member: &Member,
        request: &ValidAuthorization,
    ) -> Result<Option<String>, Error> {
        if request.details.thread_read {
            return Ok(None);
        }
        let grant = self
            .store
            .grant(member.id, &request.app.client_id)
            .await?
            .filter(|grant| grant.is_active() && request.scopes.is_subset(&grant.scopes));
        match grant {
            Some(grant) => Ok(Some(
                self.issue_code(&grant, request, request.scopes.clone())
                    .await?,
            )),
            None => Ok(None),
        }
    }

    /// Records the member's consent and issues a code carrying exactly what they granted.
    #[tracing::instrument(skip_all, fields(client_id = %request.app.client_id))]
    pub async fn consent(
        &self,
        member: &Member,
        request: &ValidAuthorization,
        consent: Consent,
        request_id: &str,
    ) -> Result<String, Error> {
        if !consent.scopes.is_subset(&request.scopes) {
            return Err(Error::invalid(
                "scope",
                "invalid_scope",
                "you can only grant what the app asked for",
            ));
        }
        if let Some(required) = request
            .scopes
            .iter()
            .find(|scope| !scope.is_optional() && !consent.scopes.contains(*scope))
        {
            return Err(Error::invalid(
                "scope",
                "invalid_scope",
                format!("`{required}` is needed to connect the app at all"),
            ));
        }
        if !(1..=THREAD_GRANT_MAX_DAYS).contains(&consent.thread_days) {
            return Err(Error::invalid(
                "thread_days",
                "invalid_thread_days",
                format!("thread access lasts 1 to {THREAD_GRANT_MAX_DAYS} days"),
            ));
        }
        if !consent.threads.is_empty() && !request.details.thread_read {
            return Err(Error::invalid(
                "threads",
                "invalid_threads",
                "this app did not ask to read any conversation",
            ));
        }
        for thread in &consent.threads {
            if self.store.conversation(*thread, member.id).await?.is_none() {
                return Err(Error::invalid(
                    "threads",
                    "invalid_threads",
                    "you can only share conversations you are in",
                ));
            }
        }
        let now = self.clock.now();
        let existing = self.store.grant(member.id, &request.app.client_id).await?;
        // Consent adds to what an active grant holds (incremental authorization); taking
        // permissions away is done by disconnecting the app.
        let scopes = match existing.filter(Grant::is_active) {
            Some(grant) => grant.scopes.iter().chain(consent.scopes.iter()).collect(),
            None => consent.scopes.clone(),
        };
        let log = NewLogEntry::new(
            member.id,
            now,
            &request.app.client_id,
            Action::ConsentGrant,
            request_id,
        )
        .with_scope(&consent.scopes)
        .with_objects(
            consent
                .threads
                .iter()
                .map(|thread| format!("conversation:{}", thread.0))
                .collect(),
        );
        let grant = self
            .store
            .save_grant(
                GrantUpdate {
                    member_id: member.id,
                    client_id: request.app.client_id.clone(),
                    scopes,
                    new_pseudonym: format!("cfd_u_{}", tokens::random_url_safe(16)),
                    threads: consent.threads,
                    threads_expire_at: now.plus_secs(consent.thread_days * 24 * 3600),
                    threads_history: consent.share_history,
                    at: now,
                },
                log,
            )
            .await?;
        tracing::info!(grant = grant.id, scopes = %consent.scopes, "consent recorded");
        self.issue_code(&grant, request, consent.scopes).await
    }

    async fn issue_code(
        &self,
        grant: &Grant,
        request: &ValidAuthorization,
        scopes: Scopes,
    ) -> Result<String, Error> {
        let now = self.clock.now();
        let code = tokens::mint("cfd_code_");
        self.store
            .create_code(AuthorizationCode {
                code_hash: code.hash,
                grant_id: grant.id,
                member_id: grant.member_id,
                client_id: request.app.client_id.clone(),
                redirect_uri: request.redirect_uri.clone(),
                scopes,
                code_challenge: request.challenge.as_str().to_owned(),
                created_at: now,
                expires_at: now.plus_secs(self.oauth.code_secs),
                redeemed_at: None,
            })
            .await?;
        Ok(code.secret)
    }
}
