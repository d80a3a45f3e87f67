//! Webhooks: endpoints registered by an insurer (for its alerts) or an enterprise (for its
//! organisation's), and the delivery job that POSTs each alert, signed per the Standard
//! Webhooks specification (standardwebhooks.com, v1, 2024: `webhook-id`, `webhook-timestamp`
//! and `webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">`, via the
//! `standardwebhooks` crate). Each attempt is signed anew with its own timestamp but keeps the
//! message id, so a receiver can deduplicate; every attempt is logged; failures are retried by
//! the job queue with backoff and dead-lettered after `WEBHOOK_MAX_ATTEMPTS`.
//!
//! Server-side request forgery: by default a webhook may only reach public addresses — the
//! URL's host is resolved by cyrisk's own resolver, which drops loopback, private, link-local
//! and other non-global addresses (so a name cannot be re-pointed at an internal address after
//! registration), and IP-literal URLs are checked the same way; redirects are not followed.
//! A deployment that delivers to its own network opts in (`--webhooks-allow-private`).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use cyrisk_store::monitoring::{INSURED, WEBHOOK};
use cyrisk_store::{Claim, Delivery, DeliveryAttempt, NewWebhook, Principal, Role, Webhook};
use serde::Serialize;

use crate::App;
use crate::access::{Action, authorize_role};
use crate::error::{AppError, Result};

/// Where webhooks may deliver.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WebhookPolicy {
    /// Allow `http://` and loopback, private and link-local addresses (a deployment whose
    /// receivers are on its own network, and tests). Off by default: `https://` to public
    /// addresses only.
    pub allow_private: bool,
}

/// How long one delivery attempt may take.
pub const DELIVERY_TIMEOUT: Duration = Duration::from_secs(10);

/// A webhook to register.
#[derive(Debug, Clone)]
pub struct WebhookRequest {
    pub url: String,
    pub description: Option<String>,
    /// Admin keys only: the insurer key whose alerts it receives…
    pub insurer_key_id: Option<String>,
    /// …or the organisation whose own alerts it receives.
    pub org_id: Option<String>,
}

/// A registered webhook with its signing secret — shown once, at registration.
#[derive(Debug, Clone, Serialize)]
pub struct CreatedWebhook {
    #[serde(flatten)]
    pub webhook: Webhook,
    /// `whsec_` and the base64 key the receiver verifies signatures with.
    pub secret: String,
}

/// Whether `ip` is a public (globally routable) address: not loopback, private (RFC 1918,
/// RFC 4193), link-local, site-local, shared (RFC 6598), benchmarking (RFC 2544),
/// documentation, unspecified, broadcast or multicast, nor an IPv6 address that embeds an
/// IPv4 one (compatible, NAT64, 6to4, Teredo); an IPv4-mapped IPv6 address is judged as its
/// IPv4 address (IANA special-purpose address registries, 2024).
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_documentation()
                || v4.is_multicast()
                || o[0] == 0
                || (o[0] == 100 && (o[1] & 0xc0) == 64)
                || (o[0] == 192 && o[1] == 0 && o[2] == 0)
                || (o[0] == 198 && (o[1] & 0xfe) == 18)
                || (o[0] == 192 && o[1] == 88 && o[2] == 99)
                || o[0] >= 240)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let s = v6.segments();
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00
                || (s[0] & 0xffc0) == 0xfe80
                || (s[0] & 0xffc0) == 0xfec0
                || (s[0] == 0x2001 && s[1] == 0x0db8)
                // Addresses that embed an IPv4 address a gateway would reach, and other special
                // blocks: ::/64 (IPv4-compatible, IPv4-translated), NAT64 (64:ff9b::/96,
                // 64:ff9b:1::/48), 6to4 (2002::/16), discard-only (100::/64), and the IETF
                // protocol assignments 2001::/23 (Teredo, ORCHID, benchmarking).
                || s[..4].iter().all(|x| *x == 0)
                || (s[0] == 0x64 && s[1] == 0xff9b)
                || s[0] == 0x2002
                || (s[0] == 0x0100 && s[1..4].iter().all(|x| *x == 0))
                || (s[0] == 0x2001 && s[1] < 0x0200))
        }
    }
}

/// Checks a webhook URL against the policy: `Invalid` naming the problem.
pub fn check_url(url: &str, policy: WebhookPolicy) -> Result<reqwest::Url> {
    let bad = |why: &str| AppError::Invalid(format!("url: {why}"));
    if url.len() > 2048 {
        return Err(bad("at most 2048 characters"));
    }
    let u = reqwest::Url::parse(url).map_err(|e| bad(&format!("not a URL ({e})")))?;
    match u.scheme() {
        "https" => {}
        "http" if policy.allow_private => {}
        "http" => return Err(bad("must be https (this deployment does not allow http)")),
        other => return Err(bad(&format!("scheme {other:?}: https only"))),
    }
    if !u.username().is_empty() || u.password().is_some() {
        return Err(bad("must not carry credentials"));
    }
    let host = u.host().ok_or_else(|| bad("has no host"))?;
    if !policy.allow_private {
        let literal = match host {
            url::Host::Ipv4(a) => Some(IpAddr::V4(a)),
            url::Host::Ipv6(a) => Some(IpAddr::V6(a)),
            url::Host::Domain(d) if d.eq_ignore_ascii_case("localhost") => {
                return Err(bad("must not point at this host"));
            }
            url::Host::Domain(_) => None,
        };
        if literal.is_some_and(|ip| !is_public(ip)) {
            return Err(bad("must be a public address"));
        }
    }
    Ok(u)
}

/// The resolver webhooks use: the system's, minus non-public addresses unless allowed.
#[derive(Debug)]
struct PublicOnly;

impl reqwest::dns::Resolve for PublicOnly {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        Box::pin(async move {
            let host = name.as_str().to_owned();
            // One answer for "no such name" and "only internal addresses", so a webhook's
            // delivery log cannot be used to map the deployment's internal DNS.
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await
                .map(|found| found.filter(|a| is_public(a.ip())).collect())
                .unwrap_or_default();
            if addrs.is_empty() {
                return Err(format!("{host} does not resolve to a public address").into());
            }
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// The HTTP client webhooks are delivered with: no redirects, a timeout, rustls.
pub(crate) fn client(policy: WebhookPolicy) -> Result<reqwest::Client> {
    let mut b = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        // A proxy from the environment would resolve the host itself, past the resolver.
        .no_proxy()
        .timeout(DELIVERY_TIMEOUT)
        .connect_timeout(Duration::from_secs(5))
        .user_agent(concat!("cyrisk-webhooks/", env!("CARGO_PKG_VERSION")));
    if !policy.allow_private {
        b = b.dns_resolver(Arc::new(PublicOnly));
    }
    b.build()
        .map_err(|e| AppError::internal(format!("webhook client: {e}")))
}

/// A new signing secret: `whsec_` and 32 bytes from the operating system's CSPRNG (two
/// version-4 UUIDs' bytes, 244 random bits), base64.
fn new_secret() -> String {
    let mut bytes = [0u8; 32];
    bytes[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    bytes[16..].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    )
}

/// What a delivery job did.
#[derive(Debug, Clone, Serialize)]
pub struct DeliveryOutcome {
    pub delivery_id: String,
    /// `delivered`, `skipped` (the webhook was disabled, or an earlier attempt delivered) or
    /// `gone` (the receiver answered 410: the webhook is disabled).
    pub status: &'static str,
    pub status_code: Option<u16>,
}

impl App {
    /// Registers a webhook for `p`'s alerts (an insurer's, or an enterprise's organisation's;
    /// an admin names which); returns it with its secret, shown only now.
    pub async fn create_webhook(
        &self,
        p: &Principal,
        req: WebhookRequest,
    ) -> Result<CreatedWebhook> {
        authorize_role(p, Action::ManageWebhooks)?;
        check_url(&req.url, self.webhook_policy)?;
        if let Some(d) = &req.description
            && d.chars().count() > 500
        {
            return Err(AppError::Invalid(
                "description: at most 500 characters".into(),
            ));
        }
        let (audience, org_id) = match (p.role, req.insurer_key_id, req.org_id) {
            (Role::Insurer, None, None) => (p.key_id.clone(), None),
            (Role::Enterprise, None, None) => (
                INSURED.to_owned(),
                Some(p.org_id.clone().ok_or_else(|| {
                    AppError::internal("an enterprise key bound to no organisation")
                })?),
            ),
            (Role::Admin, Some(k), None) => {
                let active = self
                    .store
                    .list_keys()
                    .await?
                    .into_iter()
                    .any(|x| x.id == k && x.role == Role::Insurer && x.revoked_at.is_none());
                if !active {
                    return Err(AppError::Invalid(format!(
                        "insurer_key_id: {k:?} is not an active insurer key"
                    )));
                }
                (k, None)
            }
            (Role::Admin, None, Some(o)) => {
                self.store.organization(&o).await?;
                (INSURED.to_owned(), Some(o))
            }
            (Role::Admin, _, _) => {
                return Err(AppError::Invalid(
                    "insurer_key_id or org_id: an admin key names exactly one audience".into(),
                ));
            }
            _ => {
                return Err(AppError::forbidden(
                    "a webhook receives the registering key's own alerts: omit insurer_key_id and org_id",
                ));
            }
        };
        let secret = new_secret();
        let webhook = self
            .store
            .create_webhook(&NewWebhook {
                owner_key_id: p.key_id.clone(),
                audience,
                org_id,
                url: req.url,
                secret: secret.clone(),
                description: req.description,
            })
            .await?;
        Ok(CreatedWebhook { webhook, secret })
    }

    /// The webhooks `p` may see: an insurer's, its organisation's for an enterprise, all for
    /// an admin.
    pub async fn webhooks(&self, p: &Principal) -> Result<Vec<Webhook>> {
        authorize_role(p, Action::ManageWebhooks)?;
        let (audience, org) = own_audience(p);
        Ok(self.store.webhooks(audience, org).await?)
    }

    /// One webhook `p` may see.
    pub async fn webhook(&self, p: &Principal, id: &str) -> Result<Webhook> {
        authorize_role(p, Action::ManageWebhooks)?;
        let w = self.store.webhook(id).await?;
        let (audience, org) = own_audience(p);
        if audience.is_some_and(|a| a != w.audience)
            || org.is_some_and(|o| Some(o) != w.org_id.as_deref())
        {
            return Err(AppError::NotFound { what: "webhook" });
        }
        Ok(w)
    }

    /// Disables a webhook `p` may see (no further deliveries).
    pub async fn disable_webhook(&self, p: &Principal, id: &str) -> Result<Webhook> {
        self.webhook(p, id).await?;
        Ok(self.store.disable_webhook(id, &p.key_id).await?)
    }

    /// A webhook's delivery log, newest first, each delivery with every attempt.
    pub async fn deliveries(&self, p: &Principal, id: &str, limit: i64) -> Result<Vec<Delivery>> {
        self.webhook(p, id).await?;
        Ok(self.store.deliveries(id, limit).await?)
    }

    /// The delivery job: signs and POSTs one message, logs the attempt, and on a 2xx marks it
    /// delivered in the transaction that finishes the job. Any other answer, a timeout or a
    /// refused connection is an error the queue retries with backoff.
    pub async fn deliver_webhook(&self, claim: &Claim) -> Result<DeliveryOutcome> {
        let id = claim.job.payload["delivery_id"]
            .as_str()
            .ok_or_else(|| AppError::Invalid(format!("a {WEBHOOK} job names no delivery")))?;
        let t = self.store.delivery_target(id).await?;
        if t.delivered || t.webhook_disabled {
            let out = DeliveryOutcome {
                delivery_id: t.id,
                status: "skipped",
                status_code: None,
            };
            self.store
                .finish_job(
                    claim,
                    &serde_json::to_value(&out).map_err(AppError::internal)?,
                )
                .await?;
            return Ok(out);
        }
        let url = check_url(&t.url, self.webhook_policy)?;
        let signer = standardwebhooks::Webhook::new(&t.secret)
            .map_err(|e| AppError::Invalid(format!("webhook secret: {e:?}")))?;
        let ts = chrono::Utc::now().timestamp();
        let signature = signer
            .sign(&t.id, ts, t.payload.as_bytes())
            .map_err(|e| AppError::internal(format!("signing: {e:?}")))?;
        let started = Instant::now();
        let attempted_at = cyrisk_store::stamp_now();
        let sent = self
            .http
            .post(url)
            .header("content-type", "application/json")
            .header(standardwebhooks::HEADER_WEBHOOK_ID, &t.id)
            .header(standardwebhooks::HEADER_WEBHOOK_TIMESTAMP, ts.to_string())
            .header(standardwebhooks::HEADER_WEBHOOK_SIGNATURE, signature)
            .body(t.payload.clone())
            .send()
            .await;
        let duration_ms = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
        let (status, error) = match &sent {
            Ok(r) if r.status().is_success() => (Some(r.status().as_u16()), None),
            Ok(r) => (
                Some(r.status().as_u16()),
                Some(format!("the receiver answered {}", r.status())),
            ),
            Err(e) => (None, Some(describe(e))),
        };
        self.store
            .record_attempt(
                &t.id,
                &DeliveryAttempt {
                    attempt: claim.job.attempts,
                    attempted_at,
                    status_code: status.map(i64::from),
                    error: error.clone(),
                    duration_ms,
                },
            )
            .await?;
        metrics::counter!(
            "cyrisk_webhook_attempts_total",
            "outcome" => if error.is_none() { "delivered" } else { "failed" }
        )
        .increment(1);
        if status == Some(410) {
            // 410 Gone: the receiver asks for no more (Standard Webhooks: disable the endpoint).
            self.store
                .disable_webhook_of_delivery(&t.id, "cyrisk: the receiver answered 410 Gone")
                .await?;
            let out = DeliveryOutcome {
                delivery_id: t.id,
                status: "gone",
                status_code: status,
            };
            self.store
                .finish_job(
                    claim,
                    &serde_json::to_value(&out).map_err(AppError::internal)?,
                )
                .await?;
            return Ok(out);
        }
        if let Some(e) = error {
            return Err(AppError::Upstream(format!(
                "webhook delivery {}: {e}",
                t.id
            )));
        }
        let out = DeliveryOutcome {
            delivery_id: t.id.clone(),
            status: "delivered",
            status_code: status,
        };
        let mut tx = self.store.write_tx().await?;
        tx.mark_delivered(&t.id).await?;
        tx.finish_job(
            claim,
            &serde_json::to_value(&out).map_err(AppError::internal)?,
        )
        .await?;
        tx.commit().await?;
        Ok(out)
    }
}

/// An error and its causes, in one line (reqwest's top-level message alone says little).
fn describe(e: &reqwest::Error) -> String {
    let mut s = if e.is_timeout() {
        format!("timed out after {} s", DELIVERY_TIMEOUT.as_secs())
    } else if e.is_connect() {
        "could not connect".to_owned()
    } else {
        e.to_string()
    };
    let mut src = std::error::Error::source(e);
    while let Some(c) = src {
        s.push_str(": ");
        s.push_str(&c.to_string());
        src = c.source();
    }
    s
}

/// The webhooks a key manages: `(audience, org)` filters (none for an admin).
fn own_audience(p: &Principal) -> (Option<&str>, Option<&str>) {
    match p.role {
        Role::Admin => (None, None),
        Role::Insurer => (Some(p.key_id.as_str()), None),
        Role::Enterprise | Role::Assessor => {
            (Some(INSURED), Some(p.org_id.as_deref().unwrap_or("")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_addresses() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "198.18.0.1",
            "fec0::1",
            "::10.0.0.5",
            "64:ff9b::a00:5",
            "64:ff9b:1::a00:5",
            "2002:a00:5::1",
            "2001:0:a00:5::1",
            "::ffff:0:7f00:1",
            "100::1",
            "2001:20::1",
            "192.88.99.1",
        ] {
            assert!(!is_public(private.parse().unwrap()), "{private}");
        }
        for public in ["8.8.8.8", "1.1.1.1", "2606:4700::1111"] {
            assert!(is_public(public.parse().unwrap()), "{public}");
        }
    }

    #[test]
    fn urls_are_checked() {
        let strict = WebhookPolicy::default();
        assert!(check_url("https://hooks.example.com/x", strict).is_ok());
        for bad in [
            "http://hooks.example.com/x",
            "https://127.0.0.1/x",
            "https://[::1]/",
            "https://localhost/",
            "ftp://x.example/",
            "https://u:p@x.example/",
            "not a url",
        ] {
            assert!(check_url(bad, strict).is_err(), "{bad}");
        }
        let open = WebhookPolicy {
            allow_private: true,
        };
        assert!(check_url("http://127.0.0.1:9000/hook", open).is_ok());
    }

    #[test]
    fn secrets_are_standard_webhooks_keys() {
        let s = new_secret();
        assert!(s.starts_with("whsec_"));
        assert!(standardwebhooks::Webhook::new(&s).is_ok());
        assert_ne!(s, new_secret());
    }
}
