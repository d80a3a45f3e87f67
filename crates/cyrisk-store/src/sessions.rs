//! Sessions of the live rating page: an API key exchanged for a random token kept in a cookie.
//! The store keeps the token's SHA-256 (like a key's), the key it stands for, a CSRF token for
//! the session's forms and an expiry; a revoked key ends its sessions at once (every lookup
//! joins the key). Shared by every replica through the database.

use sqlx::Row;

use crate::keys::{Principal, Role, hash};
use crate::{Result, Store, now, stamp};

/// A session just opened: the cookie's token and the forms' CSRF token (both shown once).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSession {
    pub token: String,
    pub csrf: String,
    /// RFC 3339 UTC.
    pub expires_at: String,
}

/// A live session: who it is and the token its forms must carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub principal: Principal,
    pub csrf: String,
}

fn token() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

impl Store {
    /// Opens a session for `key_id` lasting `ttl` (and drops every expired session).
    pub async fn create_session(&self, key_id: &str, ttl: chrono::Duration) -> Result<NewSession> {
        let session = NewSession {
            token: token(),
            csrf: token(),
            expires_at: stamp(chrono::Utc::now() + ttl),
        };
        let mut tx = self.begin_write().await?;
        sqlx::query("DELETE FROM web_sessions WHERE expires_at < $1")
            .bind(now())
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO web_sessions (token_hash, key_id, csrf, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(hash(&session.token))
        .bind(key_id)
        .bind(&session.csrf)
        .bind(now())
        .bind(&session.expires_at)
        .execute(&mut *tx)
        .await?;
        crate::keys::audit(
            &mut tx,
            Some(key_id),
            "session.open",
            None,
            &serde_json::json!({ "expires_at": session.expires_at }),
        )
        .await?;
        tx.commit().await?;
        Ok(session)
    }

    /// The session of `token`, if it exists, has not expired and its key is not revoked.
    pub async fn session(&self, token: &str) -> Result<Option<Session>> {
        let row = sqlx::query(
            "SELECT k.id, k.role, k.org_id, s.csrf FROM web_sessions s \
             JOIN api_keys k ON k.id = s.key_id \
             WHERE s.token_hash = $1 AND s.expires_at > $2 AND k.revoked_at IS NULL",
        )
        .bind(hash(token))
        .bind(now())
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(Session {
                principal: Principal {
                    key_id: r.try_get("id")?,
                    role: Role::parse(&r.try_get::<String, _>("role")?)?,
                    org_id: r.try_get("org_id")?,
                },
                csrf: r.try_get("csrf")?,
            })
        })
        .transpose()
    }

    /// Ends the session of `token` (signing out, audited); `false` when there was none.
    pub async fn delete_session(&self, token: &str) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        let key_id: Option<String> =
            sqlx::query("DELETE FROM web_sessions WHERE token_hash = $1 RETURNING key_id")
                .bind(hash(token))
                .fetch_optional(&mut *tx)
                .await?
                .map(|r| r.try_get("key_id"))
                .transpose()?;
        if let Some(k) = &key_id {
            crate::keys::audit(
                &mut tx,
                Some(k),
                "session.close",
                None,
                &serde_json::json!({}),
            )
            .await?;
        }
        tx.commit().await?;
        Ok(key_id.is_some())
    }
}
