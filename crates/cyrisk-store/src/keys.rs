//! API keys (stored as SHA-256 hashes; the key itself is shown once) and the append-only
//! audit log of writes.
//!
//! SHA-256 rather than a password hash: a key is 256 random bits, so there is nothing to
//! brute-force, and checking one must stay cheap at thousands of requests a second.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sqlx::{Any, Row, Transaction};

use crate::{Result, Store, StoreError, new_id, now};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Admin,
    Insurer,
    Enterprise,
    Assessor,
}

impl Role {
    pub const ALL: [Role; 4] = [Self::Admin, Self::Insurer, Self::Enterprise, Self::Assessor];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Insurer => "insurer",
            Self::Enterprise => "enterprise",
            Self::Assessor => "assessor",
        }
    }

    pub fn parse(s: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| {
                StoreError::Invalid(format!(
                    "unknown role {s:?}: one of admin, insurer, enterprise, assessor"
                ))
            })
    }
}

/// A key just created: `key` is shown once and never stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NewKey {
    pub id: String,
    pub key: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeyInfo {
    pub id: String,
    pub name: String,
    pub role: Role,
    pub org_id: Option<String>,
    /// The first characters of the key, to recognise it.
    pub prefix: String,
    pub created_at: String,
    pub revoked_at: Option<String>,
}

/// Who is calling.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Principal {
    pub key_id: String,
    pub role: Role,
    /// The organisation an enterprise or assessor key is bound to.
    pub org_id: Option<String>,
}

impl Principal {
    /// The operator at the command line: sees and may do everything, audited as `cli`.
    pub fn operator() -> Self {
        Self {
            key_id: "cli".to_owned(),
            role: Role::Admin,
            org_id: None,
        }
    }
}

impl Role {
    /// The rated party: what it writes about itself is a declaration, not evidence.
    pub fn is_rated_party(self) -> bool {
        self == Self::Enterprise
    }
}

pub(crate) fn hash(key: &str) -> String {
    let digest = Sha256::digest(key.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Appends to the audit log inside the caller's transaction.
pub(crate) async fn audit<T: Serialize>(
    tx: &mut sqlx::AnyConnection,
    key_id: Option<&str>,
    action: &str,
    org_id: Option<&str>,
    detail: &T,
) -> Result<()> {
    let detail = serde_json::to_string(detail).map_err(|e| StoreError::Invalid(e.to_string()))?;
    sqlx::query(
        "INSERT INTO audit_log (at, key_id, action, org_id, detail) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(now())
    .bind(key_id)
    .bind(action)
    .bind(org_id)
    .bind(detail)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// The role of a key that exists and is not revoked, inside the caller's transaction.
pub(crate) async fn active_key_role(
    tx: &mut Transaction<'_, Any>,
    key_id: &str,
) -> Result<Option<String>> {
    Ok(
        sqlx::query("SELECT role FROM api_keys WHERE id = $1 AND revoked_at IS NULL")
            .bind(key_id)
            .fetch_optional(&mut **tx)
            .await?
            .map(|r| r.try_get("role"))
            .transpose()?,
    )
}

/// Links an organisation to a key inside the caller's transaction (no-op if linked).
pub(crate) async fn link_in(
    tx: &mut Transaction<'_, Any>,
    key_id: &str,
    org_id: &str,
    reason: &str,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO org_links (key_id, org_id, reason, created_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (key_id, org_id) DO NOTHING",
    )
    .bind(key_id)
    .bind(org_id)
    .bind(reason)
    .bind(now())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// One audit record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditEntry {
    pub seq: i64,
    pub at: String,
    pub key_id: Option<String>,
    pub action: String,
    pub org_id: Option<String>,
    pub detail: String,
}

impl Store {
    /// Creates a key; enterprise and assessor keys must be bound to an existing organisation.
    pub async fn create_key(
        &self,
        name: &str,
        role: Role,
        org_id: Option<&str>,
        actor: Option<&str>,
    ) -> Result<NewKey> {
        if name.trim().is_empty() {
            return Err(StoreError::Invalid("a key needs a name".into()));
        }
        match (role, org_id) {
            (Role::Enterprise | Role::Assessor, None) => {
                return Err(StoreError::Invalid(format!(
                    "an {} key must be bound to an organisation (--org ID)",
                    role.as_str()
                )));
            }
            (Role::Admin | Role::Insurer, Some(_)) => {
                return Err(StoreError::Invalid(format!(
                    "an {} key is not bound to one organisation",
                    role.as_str()
                )));
            }
            (_, Some(org)) => {
                self.organization(org).await?;
            }
            _ => {}
        }
        let id = new_id();
        let key = format!(
            "cyk_{}{}",
            uuid::Uuid::new_v4().simple(),
            uuid::Uuid::new_v4().simple()
        );
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO api_keys (id, name, role, org_id, key_hash, prefix, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&id)
        .bind(name)
        .bind(role.as_str())
        .bind(org_id)
        .bind(hash(&key))
        .bind(&key[..12])
        .bind(now())
        .execute(&mut *tx)
        .await?;
        audit(
            &mut tx,
            actor,
            "key.create",
            org_id,
            &serde_json::json!({ "key": id, "role": role.as_str(), "name": name }),
        )
        .await?;
        tx.commit().await?;
        Ok(NewKey { id, key })
    }

    pub async fn list_keys(&self) -> Result<Vec<KeyInfo>> {
        sqlx::query("SELECT id, name, role, org_id, prefix, created_at, revoked_at FROM api_keys ORDER BY created_at, id")
            .fetch_all(&self.pool)
            .await?
            .into_iter()
            .map(|r| {
                Ok(KeyInfo {
                    id: r.try_get("id")?,
                    name: r.try_get("name")?,
                    role: Role::parse(&r.try_get::<String, _>("role")?)?,
                    org_id: r.try_get("org_id")?,
                    prefix: r.try_get("prefix")?,
                    created_at: r.try_get("created_at")?,
                    revoked_at: r.try_get("revoked_at")?,
                })
            })
            .collect()
    }

    pub async fn revoke_key(&self, id: &str, actor: Option<&str>) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let done =
            sqlx::query("UPDATE api_keys SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL")
                .bind(id)
                .bind(now())
                .execute(&mut *tx)
                .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound {
                what: "active key",
                id: id.to_owned(),
            });
        }
        audit(
            &mut tx,
            actor,
            "key.revoke",
            None,
            &serde_json::json!({ "key": id }),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The principal a presented key belongs to, if the key exists and is not revoked.
    pub async fn authenticate(&self, key: &str) -> Result<Option<Principal>> {
        let row = sqlx::query(
            "SELECT id, role, org_id FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL",
        )
        .bind(hash(key))
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(Principal {
                key_id: r.try_get("id")?,
                role: Role::parse(&r.try_get::<String, _>("role")?)?,
                org_id: r.try_get("org_id")?,
            })
        })
        .transpose()
    }

    /// Links an organisation to a key (an insurer that loaded it, quoted it or insures it).
    pub async fn link(&self, key_id: &str, org_id: &str, reason: &str) -> Result<()> {
        let mut tx = self.begin_write().await?;
        link_in(&mut tx, key_id, org_id, reason).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Assigns an assessor key to one more organisation (an engagement), with an audit record.
    pub async fn assign(&self, key_id: &str, org_id: &str, actor: Option<&str>) -> Result<()> {
        self.organization(org_id).await?;
        let mut tx = self.begin_write().await?;
        let role = active_key_role(&mut tx, key_id).await?;
        match role.as_deref() {
            None => {
                return Err(StoreError::NotFound {
                    what: "active key",
                    id: key_id.to_owned(),
                });
            }
            Some(r) if r != Role::Assessor.as_str() => {
                return Err(StoreError::Invalid(format!(
                    "only assessor keys are assigned to organisations; {key_id} is an {r} key"
                )));
            }
            Some(_) => {}
        }
        link_in(&mut tx, key_id, org_id, "assigned").await?;
        audit(
            &mut tx,
            actor,
            "key.assign",
            Some(org_id),
            &serde_json::json!({ "key": key_id }),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Whether a principal may see an organisation: admins all, enterprise keys their own,
    /// assessor keys the one they were created for and those assigned to them, insurers those
    /// linked to them (loaded, quoted or insured by a policy).
    pub async fn can_see(&self, p: &Principal, org_id: &str) -> Result<bool> {
        // The fast paths need no query (admins: everything; enterprise keys: their own); the
        // rest is the one visibility rule listings and by-name loads use too.
        Ok(match p.role {
            Role::Admin => true,
            Role::Enterprise => p.org_id.as_deref() == Some(org_id),
            Role::Insurer | Role::Assessor => {
                let (visible, binds) = crate::orgs::visible_condition(p, 2);
                let sql =
                    format!("SELECT 1 AS one FROM organizations o WHERE o.id = $1 AND {visible}");
                let mut q = sqlx::query(&sql).bind(org_id);
                for b in binds {
                    q = q.bind(b);
                }
                q.fetch_optional(&self.pool).await?.is_some()
            }
        })
    }

    /// The newest audit records first.
    pub async fn audit_log(&self, limit: i64) -> Result<Vec<AuditEntry>> {
        sqlx::query("SELECT seq, at, key_id, action, org_id, detail FROM audit_log ORDER BY seq DESC LIMIT $1")
            .bind(limit)
            .fetch_all(&self.pool)
            .await?
            .into_iter()
            .map(|r| {
                Ok(AuditEntry {
                    seq: r.try_get("seq")?,
                    at: r.try_get("at")?,
                    key_id: r.try_get("key_id")?,
                    action: r.try_get("action")?,
                    org_id: r.try_get("org_id")?,
                    detail: r.try_get("detail")?,
                })
            })
            .collect()
    }
}

impl Store {
    /// Whether `id` is an insurer key (active or revoked: a revoked insurer's book is still
    /// its book).
    pub async fn is_insurer_key(&self, id: &str) -> Result<bool> {
        let n: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM api_keys WHERE id = $1 AND role = 'insurer'")
                .bind(id)
                .fetch_one(&self.pool)
                .await?;
        Ok(n > 0)
    }
}
