//! The token endpoint (`authorization_code` and `refresh_token` grants), revocation
//! (RFC 7009), introspection (RFC 7662) and client authentication.

use super::{CodeChallenge, OAuthError, Scopes};
use crate::accesslog::{Action, Denial};
use crate::store::{
    App, AppStatus, LogDraft, NewLogEntry, Redemption, Rotation, ThreadGrant, TokenKind, TokenPair,
};
use crate::tokens;
use crate::{Confidant, Error, MemberId, Timestamp};

/// What a successful token request returns.
#[derive(Debug)]
pub struct IssuedTokens {
    pub access_token: String,
    pub refresh_token: String,
    pub expires_in: i64,
    /// Exactly what the access token may do.
    pub scopes: Scopes,
    /// The conversations the member let the app read, still in force.
    pub threads: Vec<ThreadGrant>,
}

/// An active token, as introspection describes it.
#[derive(Debug, Clone)]
pub struct Introspection {
    pub kind: TokenKind,
    pub client_id: String,
    /// The member's pseudonym for this app.
    pub subject: String,
    pub scopes: Scopes,
    pub issued_at: Timestamp,
    pub expires_at: Timestamp,
}

impl Confidant {
    /// Authenticates a client at the token, revocation and introspection endpoints.
    /// Confidential clients must present their secret; public ones must not have one.
    /// Failures are throttled per client id, like password log-ins.
    pub async fn authenticate_client(
        &self,
        client_id: &str,
        secret: Option<&str>,
        source: Option<&str>,
    ) -> Result<App, OAuthError> {
        let now = self.clock.now();
        // Wrong secrets are throttled per client *and* source address: a stranger who knows
        // a client id locks out only their own address, never the real app's servers.
        let throttle_key = format!("{client_id} from {}", source.unwrap_or("unknown"));
        let store = self.store.as_ref();
        if let Some(retry_after_secs) = self
            .client_throttle
            .check(store, &throttle_key, None, now)
            .await?
        {
            return Err(OAuthError::Throttled { retry_after_secs });
        }
        let app = self.store.app(client_id).await?;
        let authenticated = match (&app, secret) {
            (Some(app), Some(secret)) if app.confidential => {
                let presented = tokens::hash(secret);
                // After a rotation the old secret works until its grace period ends.
                app.secret_hash.as_ref() == Some(&presented)
                    || app.previous_secret.as_ref().is_some_and(|previous| {
                        previous.hash == presented && now < previous.expires_at
                    })
            }
            (Some(app), None) => !app.confidential,
            _ => false,
        };
        let guessable = app.as_ref().is_none_or(|app| app.confidential);
        let Some(app) = app.filter(|_| authenticated) else {
            // A public client has no secret to guess: nothing to throttle.
            if guessable {
                self.client_throttle
                    .record_failure(store, &throttle_key, None, now)
                    .await?;
            }
            return Err(OAuthError::invalid_client("client authentication failed"));
        };
        if app.status != AppStatus::Approved {
            return Err(OAuthError::invalid_client(format!(
                "this app is {}",
                app.status.as_str()
            )));
        }
        Ok(app)
    }

    /// The `authorization_code` grant. A code works once, for the client and redirect URI
    /// it was issued to, with the verifier of its PKCE challenge; a second redemption
    /// revokes everything the first one issued (RFC 9700 §4.5.3).
    #[tracing::instrument(skip_all, fields(client_id = %client.client_id))]
    pub async fn exchange_code(
        &self,
        client: &App,
        code: &str,
        redirect_uri: Option<&str>,
        verifier: Option<&str>,
        request_id: &str,
    ) -> Result<IssuedTokens, OAuthError> {
        let now = self.clock.now();
        let hash = tokens::hash(code);
        let stored = self
            .store
            .code(&hash)
            .await?
            .filter(|stored| stored.client_id == client.client_id)
            .ok_or_else(|| OAuthError::invalid_grant("the code is unknown or expired"))?;
        let log = LogDraft(
            NewLogEntry::new(
                stored.member_id,
                now,
                &client.client_id,
                Action::TokenIssue,
                request_id,
            )
            .with_scope(&stored.scopes),
        );
        if stored.redeemed_at.is_some() {
            // Replay: burn whatever the first redemption issued.
            self.store
                .revoke_tokens_of_code(&hash, now, log.denied(Denial::CodeReplayed))
                .await?;
            tracing::warn!("authorization code replayed; its tokens are revoked");
            return Err(OAuthError::invalid_grant("the code was already used"));
        }
        if stored.expires_at <= now {
            return Err(OAuthError::invalid_grant("the code is unknown or expired"));
        }
        if redirect_uri != Some(stored.redirect_uri.as_str()) {
            return Err(OAuthError::invalid_grant(
                "redirect_uri differs from the authorization request",
            ));
        }
        let challenge = CodeChallenge::from_stored(stored.code_challenge.clone());
        if !verifier.is_some_and(|verifier| challenge.verify(verifier)) {
            return Err(OAuthError::invalid_grant(
                "code_verifier does not match the code_challenge",
            ));
        }
        let refresh_expires_at = now.plus_secs(self.oauth.refresh_token_secs);
        let (pair, secrets) = self.mint_pair(&stored.scopes, &stored.scopes, refresh_expires_at);
        match self.store.redeem_code(&hash, pair, &log).await? {
            Redemption::Issued { .. } => {}
            Redemption::Replayed => {
                return Err(OAuthError::invalid_grant("the code was already used"));
            }
        }
        let threads = self.live_threads(stored.grant_id, now).await?;
        Ok(self.issued(secrets, stored.scopes, threads))
    }

    /// The `refresh_token` grant. The refresh token is replaced by a new one; presenting
    /// a replaced token again revokes the whole family. `scope` may narrow, never widen.
    #[tracing::instrument(skip_all, fields(client_id = %client.client_id))]
    pub async fn refresh(
        &self,
        client: &App,
        refresh_token: &str,
        scope: Option<&str>,
        request_id: &str,
    ) -> Result<IssuedTokens, OAuthError> {
        let now = self.clock.now();
        let hash = tokens::hash(refresh_token);
        let invalid = || OAuthError::invalid_grant("the refresh token is not valid");
        let entry = |member: MemberId| {
            NewLogEntry::new(
                member,
                now,
                &client.client_id,
                Action::TokenRefresh,
                request_id,
            )
        };
        let Some(record) = self
            .store
            .token(&hash)
            .await?
            .filter(|t| t.kind == TokenKind::Refresh && t.grant.client_id == client.client_id)
        else {
            // A refresh token revoked before its time still names its member.
            if let Some(revoked) = self.store.revoked_token(&hash).await?
                && revoked.client_id == client.client_id
                && revoked.expires_at > now
            {
                let refused = LogDraft(entry(revoked.member_id)).denied(revoked.reason);
                self.store.append_log(refused, None).await?;
            }
            return Err(invalid());
        };
        let log = |scopes: &Scopes| LogDraft(entry(record.grant.member_id).with_scope(scopes));
        if record.rotated_at.is_some() {
            self.store
                .revoke_family(
                    record.family_id,
                    now,
                    log(&record.scopes).denied(Denial::RefreshTokenReused),
                )
                .await?;
            tracing::warn!(
                grant = record.grant.id,
                "refresh token reused; family revoked"
            );
            return Err(OAuthError::invalid_grant("the refresh token is not valid"));
        }
        if record.grant.is_active() && self.is_idle(&record.grant, now) {
            self.expire_grant(&record.grant, request_id).await?;
            let refused = log(&record.scopes).denied(Denial::GrantRevoked);
            self.store.append_log(refused, None).await?;
            return Err(invalid());
        }
        let refusal = if record.expires_at <= now {
            Some(Denial::TokenExpired)
        } else if !record.grant.is_active() {
            Some(Denial::GrantRevoked)
        } else {
            None
        };
        if let Some(reason) = refusal {
            let refused = log(&record.scopes).denied(reason);
            self.store.append_log(refused, None).await?;
            return Err(invalid());
        }
        let allowed = record.scopes.intersection(&record.grant.scopes);
        let scopes = match scope.filter(|s| !s.trim().is_empty()) {
            Some(requested) => {
                let requested = Scopes::parse(requested)?;
                if !requested.is_subset(&allowed) {
                    return Err(OAuthError::new(
                        "invalid_scope",
                        format!("a refresh can only narrow the scope: {allowed}"),
                    ));
                }
                requested
            }
            None => allowed,
        };
        // The family's absolute lifetime carries over to each new refresh token.
        let (pair, secrets) = self.mint_pair(&scopes, &record.scopes, record.expires_at);
        match self
            .store
            .rotate_refresh_token(&hash, record.family_id, pair, &log(&scopes))
            .await?
        {
            Rotation::Rotated => {}
            Rotation::Reused => {
                return Err(OAuthError::invalid_grant("the refresh token is not valid"));
            }
        }
        let threads = self.live_threads(record.grant.id, now).await?;
        Ok(self.issued(secrets, scopes, threads))
    }

    /// Revokes a token of this client (RFC 7009). A refresh token takes its whole family
    /// with it. Unknown tokens and other clients' tokens are silently left alone.
    pub async fn revoke_token(
        &self,
        client: &App,
        token: &str,
        request_id: &str,
    ) -> Result<(), Error> {
        let now = self.clock.now();
        let hash = tokens::hash(token);
        let Some(record) = self.store.token(&hash).await? else {
            return Ok(());
        };
        if record.grant.client_id != client.client_id {
            return Ok(());
        }
        let log = NewLogEntry::new(
            record.grant.member_id,
            now,
            &client.client_id,
            Action::TokenRevoke,
            request_id,
        )
        .with_objects(vec![format!("token:{}", record.kind.as_str())]);
        match record.kind {
            TokenKind::Refresh => self.store.revoke_family(record.family_id, now, log).await?,
            TokenKind::Access => self.store.delete_token(&hash, log).await?,
        }
        Ok(())
    }

    /// Describes a token to the client it belongs to (RFC 7662); `None` means
    /// `{"active": false}`, which is all anyone learns about an expired, revoked, unknown
    /// or foreign token.
    pub async fn introspect(
        &self,
        client: &App,
        token: &str,
    ) -> Result<Option<Introspection>, Error> {
        let now = self.clock.now();
        let Some(record) = self.store.token(&tokens::hash(token)).await? else {
            return Ok(None);
        };
        let active = record.grant.client_id == client.client_id
            && record.expires_at > now
            && record.rotated_at.is_none()
            && record.grant.is_active()
            && record.app_status == AppStatus::Approved;
        Ok(active.then(|| Introspection {
            kind: record.kind,
            client_id: record.grant.client_id.clone(),
            subject: record.grant.pseudonym.clone(),
            scopes: record.scopes.intersection(&record.grant.scopes),
            issued_at: record.created_at,
            expires_at: record.expires_at,
        }))
    }

    pub(crate) async fn live_threads(
        &self,
        grant_id: i64,
        now: Timestamp,
    ) -> Result<Vec<ThreadGrant>, Error> {
        let mut threads = self.store.thread_grants(grant_id).await?;
        threads.retain(|thread| thread.expires_at > now);
        Ok(threads)
    }

    /// A new access and refresh token; the secrets go to the client, the pair to the store.
    fn mint_pair(
        &self,
        access_scopes: &Scopes,
        refresh_scopes: &Scopes,
        refresh_expires_at: Timestamp,
    ) -> (TokenPair, (String, String)) {
        let now = self.clock.now();
        let access = tokens::mint("cfd_at_");
        let refresh = tokens::mint("cfd_rt_");
        let pair = TokenPair {
            access_hash: access.hash,
            access_expires_at: now.plus_secs(self.oauth.access_token_secs),
            access_scopes: access_scopes.clone(),
            refresh_hash: refresh.hash,
            refresh_expires_at,
            refresh_scopes: refresh_scopes.clone(),
            created_at: now,
        };
        (pair, (access.secret, refresh.secret))
    }

    fn issued(
        &self,
        (access_token, refresh_token): (String, String),
        scopes: Scopes,
        threads: Vec<ThreadGrant>,
    ) -> IssuedTokens {
        IssuedTokens {
            access_token,
            refresh_token,
            expires_in: self.oauth.access_token_secs,
            scopes,
            threads,
        }
    }
}
