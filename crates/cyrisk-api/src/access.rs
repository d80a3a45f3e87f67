//! Authorisation at the edge: the decisions are the application layer's
//! ([`cyrisk_app::access`]: the role table, then the object check); these wrappers only map
//! them to problems (403 for the role, 404 for an organisation the caller may not see).

pub use cyrisk_app::access::Action;
use cyrisk_store::Principal;

use crate::AppState;
use crate::error::ApiError;

/// The role check alone, for actions on no particular organisation (403 when refused).
pub fn authorize_role(p: &Principal, action: Action) -> Result<(), ApiError> {
    Ok(cyrisk_app::authorize_role(p, action)?)
}

/// The role check, then the object check: 403 if the role may never take `action`, 404 if the
/// caller may not see `org_id`.
pub async fn authorize(
    state: &AppState,
    p: &Principal,
    org_id: &str,
    action: Action,
) -> Result<(), ApiError> {
    Ok(state.app.authorize(p, org_id, action).await?)
}
