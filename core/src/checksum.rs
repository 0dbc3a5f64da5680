//! Table checksums: a row count and the sum of the rows' digests.
//!
//! `memory_guard.row_digest(col, ...)` hashes one row's values as stored (see the extension's
//! `checksum.rs`). A sum of digests does not depend on row order, needs no sort, and adds up
//! across batches: a migration sums the source while it copies it. A changed, missing or extra
//! row changes the sum unless its digest difference is exactly zero, a chance of 2^-64.

/// The query giving a relation's row count and the sum of its rows' digests, as text (`from`
/// names the rows, `columns` the values of each).
pub fn checksum_sql(columns: &[String], from: &str) -> String {
    format!(
        "SELECT count(*)::bigint, {} FROM {from}",
        digest_sum_sql(columns)
    )
}

/// `coalesce(sum(memory_guard.row_digest(columns)), 0)::text`: the sum of the digests over a
/// query's rows. A relation without columns still has rows to count, so its rows are digested
/// as one NULL each.
pub fn digest_sum_sql(columns: &[String]) -> String {
    let args = if columns.is_empty() {
        "NULL::integer".to_string()
    } else {
        columns.join(", ")
    };
    format!("coalesce(sum(memory_guard.row_digest({args})), 0)::text")
}

/// A row count and a digest sum, as Postgres' `sum(bigint)` gives it (a numeric, read as text).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RowSum {
    pub rows: i64,
    pub sum: i128,
}

impl RowSum {
    /// Reads the two columns of a `checksum_sql` query. `None` if the sum is not an integer
    /// that fits (a sum of 64-bit digests fits up to 2^63 rows).
    pub fn parse(rows: i64, sum: &str) -> Option<Self> {
        Some(Self {
            rows,
            sum: sum.trim().parse().ok()?,
        })
    }

    /// The checksum the ledger keeps and reports show: the sum modulo 2^128 as 32 hex digits.
    pub fn checksum(&self) -> String {
        format!("{:032x}", self.sum as u128)
    }
}

impl std::ops::Add for RowSum {
    type Output = Self;

    fn add(self, other: Self) -> Self {
        Self {
            rows: self.rows + other.rows,
            sum: self.sum.wrapping_add(other.sum),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_query_sums_row_digests() {
        let sql = checksum_sql(&["t.a".into(), "t.b".into()], "ONLY public.x t");
        assert_eq!(
            sql,
            "SELECT count(*)::bigint, coalesce(sum(memory_guard.row_digest(t.a, t.b)), 0)::text FROM ONLY public.x t"
        );
        assert!(checksum_sql(&[], "public.empty t").contains("row_digest(NULL::integer)"));
    }

    #[test]
    fn checksums_are_the_sum_in_fixed_width_hex() {
        let sum = |s: &str| RowSum::parse(1, s).map(|r| r.checksum());
        assert_eq!(
            sum("0").as_deref(),
            Some("00000000000000000000000000000000")
        );
        assert_eq!(
            sum("255").as_deref(),
            Some("000000000000000000000000000000ff")
        );
        // Digests are signed, so sums can be negative: they wrap to the same fixed width.
        assert_eq!(
            sum("-1").as_deref(),
            Some("ffffffffffffffffffffffffffffffff")
        );
        assert_eq!(
            sum(&(i64::MAX as i128 * 3).to_string()).map(|c| c.len()),
            Some(32)
        );
        assert_ne!(sum("1"), sum("2"));
        assert_eq!(sum("12.5"), None);
        assert_eq!(sum(""), None);
    }

    #[test]
    fn sums_add_up_across_batches() {
        let a = RowSum::parse(2, "-5").unwrap();
        let b = RowSum::parse(3, "17").unwrap();
        assert_eq!(a + b, RowSum { rows: 5, sum: 12 });
        assert_eq!(a + b, b + a);
        assert_eq!(RowSum::default() + a, a);
        // The checksum of a whole equals the checksum of its parts added up.
        assert_eq!(
            RowSum::parse(5, "12").unwrap().checksum(),
            (a + b).checksum()
        );
    }
}
