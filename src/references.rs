//! Functions whose bodies still name a table: what a refused drop lists (drop guard) and what an
//! audit reports as an API break.

/// The functions (outside extensions) whose bodies still name `schema.relname`, or `relname`
/// alone, as their signatures. Any role may store a body of any size: each is scanned in place
/// as its row is read (memory does not grow with a body, nor with how many there are), and the
/// scan can be cancelled.
pub fn functions_naming(schema: &str, relname: &str) -> Vec<String> {
    crate::extension::with_safe_search_path(|| {
        pgrx::spi::Spi::connect(|c| {
            let rows = c.select(
                include_str!("../sql/queries/functions_naming.sql"),
                None,
                &[relname.into()],
            )?;
            let mut found = Vec::new();
            for row in rows {
                let Some(body) = row.get::<&str>(2)? else {
                    continue;
                };
                if memory_guard_core::sql_text::body_references_checked(
                    body,
                    schema,
                    relname,
                    || {
                        pgrx::check_for_interrupts!();
                    },
                ) {
                    found.extend(row.get::<String>(1)?);
                }
            }
            Ok::<_, pgrx::spi::Error>(found)
        })
        .unwrap_or_else(|e| crate::report::failed(&format!("functions naming {relname}"), e))
    })
}
