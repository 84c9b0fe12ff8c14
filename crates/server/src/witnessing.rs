//! Getting the server's logs witnessed: every interval, members' new heads are published into
//! the log of heads, and each of the server's logs (heads and budget ledger) with a new
//! checkpoint — or one whose cosignatures are getting old — is submitted to every configured
//! witness (C2SP tlog-witness). Valid cosignatures are kept with the checkpoint; once a quorum
//! has cosigned it, it is the one served and exported.
//!
//! A witness that answers 409 with a size it should not have — larger than the log, or the
//! log's own size with another root — has seen a different view of the log: that is logged
//! as an error, for it means the log was forked or rolled back.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use tokio_util::sync::CancellationToken;

use confidant_core::Confidant;
use confidant_core::store::{HEADS_LOG, LEDGER_LOG, StoredCheckpoint};
use confidant_log::CosignerVerifier;
use confidant_log::cosignature::{add_signature_lines, split_note};
use confidant_log::witness::AddCheckpoint;

use crate::config::AccessLogConfig;

/// How long a witness may take to answer.
const WITNESS_TIMEOUT: Duration = Duration::from_secs(10);

struct Endpoint {
    url: String,
    key: CosignerVerifier,
}

/// The witnesses, and the size each was last known to have per log.
pub struct Witnessing {
    witnesses: Vec<Endpoint>,
    quorum: u32,
    interval: Duration,
    refresh: Duration,
    client: reqwest::Client,
    known_sizes: Mutex<HashMap<(String, usize), u64>>,
}

/// A witness that did not cosign one of the server's logs in a round, and why.
#[derive(Debug)]
pub struct Failure {
    pub log: String,
    /// Its submission URL.
    pub witness: String,
    pub failure: WitnessFailure,
}

/// Why a witness did not cosign.
#[derive(Debug, thiserror::Error)]
pub enum WitnessFailure {
    #[error("unreachable: {0}")]
    Unreachable(String),
    /// The witness has seen another view of the log than the one submitted.
    #[error("has seen another view of this log (its size {theirs}, ours {ours}): {why}")]
    Disagrees {
        theirs: u64,
        ours: u64,
        why: &'static str,
    },
    #[error("refused the checkpoint ({status}): {body}")]
    Refused { status: u16, body: String },
    #[error("answered without a valid cosignature by its key")]
    NoCosignature,
}

impl Witnessing {
    pub fn new(config: &AccessLogConfig) -> anyhow::Result<Self> {
        let witnesses = config
            .witnesses
            .iter()
            .map(|witness| {
                Ok(Endpoint {
                    url: submission_url(&witness.url)?,
                    key: CosignerVerifier::parse(&witness.key).with_context(|| {
                        format!("[accesslog] witness {}: invalid key", witness.url)
                    })?,
                })
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let quorum = config.quorum();
        if quorum as usize > witnesses.len() {
            anyhow::bail!(
                "[accesslog] quorum is {quorum} but only {} witnesses are configured",
                witnesses.len()
            );
        }
        Ok(Self {
            witnesses,
            quorum,
            interval: config.publish_interval(),
            refresh: config.cosign_refresh(),
            client: reqwest::Client::builder()
                .timeout(WITNESS_TIMEOUT)
                .build()?,
            known_sizes: Mutex::new(HashMap::new()),
        })
    }

    pub fn quorum(&self) -> u32 {
        self.quorum
    }

    /// Publishes and submits every interval until cancelled.
    pub async fn run(self: Arc<Self>, app: Confidant, cancel: CancellationToken) {
        // The first round comes one interval after start, like every later one.
        let mut every =
            tokio::time::interval_at(tokio::time::Instant::now() + self.interval, self.interval);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = every.tick() => {
                    if let Err(error) = self.round(&app).await {
                        tracing::warn!(error = %format!("{error:#}"), "witnessing round failed");
                    }
                }
            }
        }
    }

    /// One round: publish members' heads, then get each log's checkpoint cosigned. Returns
    /// what went wrong with which witness, for each log (also logged).
    pub async fn round(&self, app: &Confidant) -> anyhow::Result<Vec<Failure>> {
        app.publish_log_heads().await?;
        let mut failures = Vec::new();
        for log in [HEADS_LOG, LEDGER_LOG] {
            let checkpoint = app.sign_tlog(log).await?;
            if self.witnesses.is_empty() || !self.due(app, &checkpoint) {
                continue;
            }
            failures.extend(self.submit(app, log, checkpoint).await?);
        }
        Ok(failures)
    }

    /// Whether a checkpoint still needs cosignatures, or fresher ones.
    fn due(&self, app: &Confidant, checkpoint: &StoredCheckpoint) -> bool {
        let fresh = checkpoint.cosigned_at.is_some_and(|at| {
            let age_ms = app.clock().now().0.saturating_sub(at.0);
            age_ms < self.refresh.as_millis() as i64
        });
        (checkpoint.cosigners as usize) < self.witnesses.len() || !fresh
    }

    /// Submits `checkpoint` to every witness at once and keeps the cosignatures it gets.
    async fn submit(
        &self,
        app: &Confidant,
        log: &str,
        checkpoint: StoredCheckpoint,
    ) -> anyhow::Result<Vec<Failure>> {
        let results = futures::future::join_all(
            (0..self.witnesses.len()).map(|index| self.cosign(app, log, &checkpoint, index)),
        )
        .await;
        let mut note = checkpoint.note.clone();
        let mut cosigners = 0;
        let mut failures = Vec::new();
        for (endpoint, result) in self.witnesses.iter().zip(results) {
            match result {
                Ok(lines) => {
                    note = add_signature_lines(&note, &lines);
                    cosigners += 1;
                }
                Err(failure) => {
                    if matches!(failure, WitnessFailure::Disagrees { .. }) {
                        tracing::error!(log, witness = %endpoint.url, %failure, "witness disagrees");
                    } else {
                        tracing::warn!(log, witness = %endpoint.url, %failure, "no cosignature");
                    }
                    failures.push(Failure {
                        log: log.to_owned(),
                        witness: endpoint.url.clone(),
                        failure,
                    });
                }
            }
        }
        if cosigners == 0 {
            return Ok(failures);
        }
        let saved = StoredCheckpoint {
            note,
            cosigners,
            cosigned_at: Some(app.clock().now()),
            ..checkpoint
        };
        app.save_cosigned(log, &saved).await?;
        if cosigners < self.quorum {
            tracing::warn!(
                log,
                size = saved.size,
                cosigners,
                quorum = self.quorum,
                "checkpoint cosigned by fewer witnesses than the quorum"
            );
        }
        Ok(failures)
    }

    /// Gets one witness's cosignature, learning its size from a 409 and retrying once.
    async fn cosign(
        &self,
        app: &Confidant,
        log: &str,
        checkpoint: &StoredCheckpoint,
        index: usize,
    ) -> Result<String, WitnessFailure> {
        let endpoint = &self.witnesses[index];
        let key = (log.to_owned(), index);
        let mut old = self.known_size(&key).min(checkpoint.size);
        for _ in 0..2 {
            let proof = app
                .tlog_consistency(log, old, checkpoint.size)
                .await
                .map_err(|e| WitnessFailure::Unreachable(format!("no proof: {e}")))?;
            let body = AddCheckpoint::body(old, &proof, &checkpoint.note);
            let response = self
                .client
                .post(&endpoint.url)
                .body(body)
                .send()
                .await
                .map_err(|e| WitnessFailure::Unreachable(e.to_string()))?;
            let status = response.status().as_u16();
            let text = response
                .text()
                .await
                .map_err(|e| WitnessFailure::Unreachable(e.to_string()))?;
            match status {
                200 => {
                    let note = add_signature_lines(&checkpoint.note, &text);
                    let (body, signatures) =
                        split_note(&note).ok_or(WitnessFailure::NoCosignature)?;
                    endpoint
                        .key
                        .find(body, &signatures)
                        .ok_or(WitnessFailure::NoCosignature)?;
                    self.set_known_size(key, checkpoint.size);
                    let ours = signatures
                        .iter()
                        .filter(|line| line.name() == endpoint.key.name())
                        .map(|line| String::from_utf8_lossy(&line.to_bytes()).into_owned())
                        .collect();
                    return Ok(ours);
                }
                409 => {
                    let theirs: u64 = text.trim().parse().map_err(|_| WitnessFailure::Refused {
                        status,
                        body: text.clone(),
                    })?;
                    let why = if theirs > checkpoint.size {
                        "it saw more of the log: the log was rolled back"
                    } else if theirs == old {
                        "it saw this size with another root: the log was forked"
                    } else {
                        old = theirs;
                        continue;
                    };
                    return Err(WitnessFailure::Disagrees {
                        theirs,
                        ours: checkpoint.size,
                        why,
                    });
                }
                // A valid proof from the witness's own size fails only if what it saw is not
                // a prefix of this log.
                422 if old > 0 => {
                    return Err(WitnessFailure::Disagrees {
                        theirs: old,
                        ours: checkpoint.size,
                        why: "this log does not extend what it saw: the log was forked",
                    });
                }
                _ => {
                    return Err(WitnessFailure::Refused {
                        status,
                        body: text.trim().to_owned(),
                    });
                }
            }
        }
        Err(WitnessFailure::Refused {
            status: 409,
            body: "the witness's size kept changing".into(),
        })
    }

    fn known_size(&self, key: &(String, usize)) -> u64 {
        let sizes = self.known_sizes.lock().unwrap_or_else(|e| e.into_inner());
        sizes.get(key).copied().unwrap_or(0)
    }

    fn set_known_size(&self, key: (String, usize), size: u64) {
        let mut sizes = self.known_sizes.lock().unwrap_or_else(|e| e.into_inner());
        sizes.insert(key, size);
    }
}

/// The `add-checkpoint` URL under a witness's submission prefix.
fn submission_url(prefix: &str) -> anyhow::Result<String> {
    let url = url::Url::parse(prefix)
        .with_context(|| format!("[accesslog] witness url {prefix:?} is not a URL"))?;
    if !matches!(url.scheme(), "http" | "https") {
        anyhow::bail!("[accesslog] witness url {prefix:?} must be http(s)");
    }
    let mut text = url.to_string();
    if !text.ends_with('/') {
        text.push('/');
    }
    Ok(format!("{text}add-checkpoint"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::WitnessConfig;

    fn config(urls: &[&str], quorum: Option<u32>) -> AccessLogConfig {
        let (key, _) = confidant_log::CosignerKey::generate("w.example").unwrap();
        AccessLogConfig {
            witnesses: urls
                .iter()
                .map(|url| WitnessConfig {
                    url: (*url).to_owned(),
                    key: key.verifier_key(),
                })
                .collect(),
            quorum,
            ..Default::default()
        }
    }

    #[test]
    fn witnesses_are_configured_with_a_quorum_they_can_reach() {
        let two =
            Witnessing::new(&config(&["http://a.example", "https://b.example/w/"], None)).unwrap();
        assert_eq!(two.quorum(), 2);
        assert_eq!(two.witnesses[0].url, "http://a.example/add-checkpoint");
        assert_eq!(two.witnesses[1].url, "https://b.example/w/add-checkpoint");
        let error = Witnessing::new(&config(&["http://a.example"], Some(2)))
            .err()
            .unwrap();
        assert!(
            error.to_string().contains("quorum is 2 but only 1"),
            "{error}"
        );
        assert!(Witnessing::new(&config(&["ftp://a.example"], None)).is_err());
        assert!(Witnessing::new(&config(&["not a url"], None)).is_err());
        let mut bad_key = config(&["http://a.example"], None);
        bad_key.witnesses[0].key = "w.example+00000000+AAAA".into();
        assert!(Witnessing::new(&bad_key).is_err());
        // No witnesses: nothing to wait for.
        assert_eq!(Witnessing::new(&config(&[], None)).unwrap().quorum(), 0);
    }
}
