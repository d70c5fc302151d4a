//! Rows of `users` as the API's [`User`].

use crate::db;
use platform_core::ApiError;
use platform_core::models::User;
use spin_sdk::pg::Row;

/// The columns [`from_row`] reads, for `select` and `returning` lists. A macro rather than a
/// `const` so statements can include it with `concat!` and stay `const` themselves.
macro_rules! user_columns {
    () => {
        "id, username, email, created_at at time zone 'utc' as created_at"
    };
}
pub(crate) use user_columns;

/// A [`User`] from a row holding the columns of [`user_columns!`].
pub fn from_row(row: &Row) -> Result<User, ApiError> {
    Ok(User {
        id: db::column(row, "id")?,
        username: db::column(row, "username")?,
        email: db::column(row, "email")?,
        created_at: db::timestamp(row, "created_at")?,
    })
}
