//! Writing memory_guard's own tables, which no other role may write: as the extension's owner.

use pgrx::prelude::*;

/// Runs `f` with the extension's owner as the current user, as a SECURITY DEFINER function
/// would. Does nothing (returns `None`) if memory_guard is not installed. An error inside `f`
/// aborts the (sub)transaction, which restores the previous user itself.
pub fn as_extension_owner<R>(f: impl FnOnce() -> R) -> Option<R> {
    let owner = Spi::get_one::<pg_sys::Oid>(
        "SELECT extowner FROM pg_catalog.pg_extension WHERE extname = 'memory_guard'",
    )
    .ok()
    .flatten()?;
    let mut saved_user = pg_sys::InvalidOid;
    let mut saved_ctx = 0;
    // SAFETY: plain reads and writes of the backend's current-user state; the previous state is
    // restored below, or by transaction abort if `f` raises.
    unsafe {
        pg_sys::GetUserIdAndSecContext(&mut saved_user, &mut saved_ctx);
        pg_sys::SetUserIdAndSecContext(
            owner,
            saved_ctx | pg_sys::SECURITY_LOCAL_USERID_CHANGE as i32,
        );
    }
    let r = f();
    // SAFETY: as above.
    unsafe { pg_sys::SetUserIdAndSecContext(saved_user, saved_ctx) };
    Some(r)
}
