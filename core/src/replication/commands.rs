//! The replication commands a replication connection takes, written and their answers read:
//! `IDENTIFY_SYSTEM`, `CREATE_REPLICATION_SLOT`, `DROP_REPLICATION_SLOT`, `START_REPLICATION`.
//! Names are quoted as identifiers and plugin option values as literals; combinations the
//! server would refuse (a logical option on a physical slot) are refused here, typed.

use crate::error::{Error, ProtocolError, UsageError};
use crate::session::{quote_ident, quote_literal};
use crate::types::row::ResultSet;
use crate::types::PgLsn;

/// What `IDENTIFY_SYSTEM` returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SystemIdentity {
    pub system_id: String,
    pub timeline: u32,
    /// The current WAL flush position.
    pub xlog_pos: PgLsn,
    /// The database connected to (`None` on a physical replication connection).
    pub dbname: Option<String>,
}

/// A slot made by `CREATE_REPLICATION_SLOT`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicationSlot {
    pub name: String,
    /// Where the slot became consistent: stream from here.
    pub consistent_point: PgLsn,
    /// An exported snapshot (`EXPORT_SNAPSHOT`) to read the data as of that point.
    pub snapshot_name: Option<String>,
    pub output_plugin: Option<String>,
}

/// The kind of slot, or of stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SlotKind {
    /// WAL as it is (`replication=true`).
    Physical,
    /// Decoded by an output plugin (`pgoutput`, `test_decoding`, `wal2json` …).
    Logical { plugin: String },
}

/// Options of `CREATE_REPLICATION_SLOT`.
#[derive(Debug, Clone, Default)]
pub struct SlotOptions {
    /// Dropped when the connection ends (or on error).
    pub temporary: bool,
    /// `EXPORT_SNAPSHOT` (logical only): a snapshot to read the data as of the slot's start,
    /// valid until the next command on this connection. The default is `NOEXPORT_SNAPSHOT`.
    pub export_snapshot: bool,
    /// `TWO_PHASE` (logical, PostgreSQL 15+): prepared transactions are decoded at PREPARE.
    pub two_phase: bool,
    /// `RESERVE_WAL` (physical): WAL is kept from now, before the first connection.
    pub reserve_wal: bool,
}

pub const IDENTIFY_SYSTEM: &str = "IDENTIFY_SYSTEM";

fn invalid(what: &str) -> Error {
    UsageError::InvalidArgument(what.into()).into()
}

/// `CREATE_REPLICATION_SLOT name [TEMPORARY] PHYSICAL [RESERVE_WAL] | LOGICAL plugin
/// [NOEXPORT_SNAPSHOT | EXPORT_SNAPSHOT] [TWO_PHASE]`, in the keyword syntax that PostgreSQL
/// 10 to 18 all take.
pub fn create_slot_sql(name: &str, kind: &SlotKind, options: &SlotOptions) -> Result<String, Error> {
    let mut sql = format!("CREATE_REPLICATION_SLOT {}", quote_ident(name));
    if options.temporary {
        sql.push_str(" TEMPORARY");
    }
    match kind {
        SlotKind::Physical => {
            if options.export_snapshot || options.two_phase {
                return Err(invalid("EXPORT_SNAPSHOT and TWO_PHASE are for logical slots"));
            }
            sql.push_str(" PHYSICAL");
            if options.reserve_wal {
                sql.push_str(" RESERVE_WAL");
            }
        }
        SlotKind::Logical { plugin } => {
            if options.reserve_wal {
                return Err(invalid("RESERVE_WAL is for physical slots"));
            }
            sql.push_str(" LOGICAL ");
            sql.push_str(&quote_ident(plugin));
            sql.push_str(if options.export_snapshot { " EXPORT_SNAPSHOT" } else { " NOEXPORT_SNAPSHOT" });
            if options.two_phase {
                sql.push_str(" TWO_PHASE");
            }
        }
    }
    Ok(sql)
}

/// `DROP_REPLICATION_SLOT name [WAIT]`.
pub fn drop_slot_sql(name: &str, wait: bool) -> String {
    format!("DROP_REPLICATION_SLOT {}{}", quote_ident(name), if wait { " WAIT" } else { "" })
}

/// `START_REPLICATION [SLOT name] PHYSICAL start [TIMELINE t]` or `START_REPLICATION SLOT name
/// LOGICAL start [(option 'value', …)]`. A logical stream needs a slot and takes no timeline;
/// a physical one takes no plugin options.
pub fn start_replication_sql(
    slot: Option<&str>,
    kind: &SlotKind,
    start: PgLsn,
    timeline: Option<u32>,
    options: &[(&str, &str)],
) -> Result<String, Error> {
    let mut sql = String::from("START_REPLICATION");
    if let Some(slot) = slot {
        sql.push_str(" SLOT ");
        sql.push_str(&quote_ident(slot));
    }
    match kind {
        SlotKind::Physical => {
            if !options.is_empty() {
                return Err(invalid("a physical stream takes no plugin options"));
            }
            sql.push_str(&format!(" PHYSICAL {start}"));
            if let Some(t) = timeline {
                sql.push_str(&format!(" TIMELINE {t}"));
            }
        }
        SlotKind::Logical { .. } => {
            if slot.is_none() {
                return Err(invalid("a logical stream needs a slot"));
            }
            if timeline.is_some() {
                return Err(invalid("a logical stream takes no timeline"));
            }
            sql.push_str(&format!(" LOGICAL {start}"));
            if !options.is_empty() {
                let list: Vec<String> =
                    options.iter().map(|(k, v)| format!("{} {}", quote_ident(k), quote_literal(v))).collect();
                sql.push_str(&format!(" ({})", list.join(", ")));
            }
        }
    }
    Ok(sql)
}

/// The text of column `i` of the one row `command` answers with.
fn answer_row<'s>(
    sets: &'s [ResultSet],
    command: &'static str,
) -> Result<impl Fn(usize) -> Option<String> + 's, Error> {
    let row = sets
        .first()
        .and_then(|s| s.rows().first())
        .ok_or(ProtocolError::Malformed { message: command, what: "its answer is not the row it returns" })?;
    Ok(move |i: usize| row.get_str(i).ok().flatten().map(str::to_owned))
}

fn parsed<T: std::str::FromStr>(v: Option<String>, command: &'static str, what: &'static str) -> Result<T, Error> {
    v.and_then(|t| t.parse().ok()).ok_or_else(|| ProtocolError::Malformed { message: command, what }.into())
}

impl SystemIdentity {
    /// Reads `IDENTIFY_SYSTEM`'s answer.
    pub fn from_answer(sets: &[ResultSet]) -> Result<SystemIdentity, Error> {
        let text = answer_row(sets, IDENTIFY_SYSTEM)?;
        Ok(SystemIdentity {
            system_id: text(0).unwrap_or_default(),
            timeline: parsed(text(1), IDENTIFY_SYSTEM, "a timeline that is not a number")?,
            xlog_pos: parsed(text(2), IDENTIFY_SYSTEM, "a WAL position that is not an LSN")?,
            dbname: text(3),
        })
    }
}

impl ReplicationSlot {
    /// Reads `CREATE_REPLICATION_SLOT`'s answer for slot `name`.
    pub fn from_answer(sets: &[ResultSet], name: &str) -> Result<ReplicationSlot, Error> {
        const CMD: &str = "CREATE_REPLICATION_SLOT";
        let text = answer_row(sets, CMD)?;
        Ok(ReplicationSlot {
            name: text(0).unwrap_or_else(|| name.to_owned()),
            consistent_point: parsed(text(1), CMD, "a consistent point that is not an LSN")?,
            snapshot_name: text(2),
            output_plugin: text(3),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_are_written_quoted_and_refused_when_the_server_would() {
        let pgoutput = SlotKind::Logical { plugin: "pgoutput".into() };
        let o = SlotOptions { temporary: true, two_phase: true, ..Default::default() };
        assert_eq!(
            create_slot_sql("my \"slot\"", &pgoutput, &o).unwrap(),
            r#"CREATE_REPLICATION_SLOT "my ""slot""" TEMPORARY LOGICAL "pgoutput" NOEXPORT_SNAPSHOT TWO_PHASE"#
        );
        let physical = SlotOptions { reserve_wal: true, ..Default::default() };
        assert_eq!(
            create_slot_sql("s", &SlotKind::Physical, &physical).unwrap(),
            r#"CREATE_REPLICATION_SLOT "s" PHYSICAL RESERVE_WAL"#
        );
        assert!(create_slot_sql("s", &SlotKind::Physical, &o).is_err());
        assert!(create_slot_sql("s", &pgoutput, &physical).is_err());
        assert_eq!(drop_slot_sql("S", true), r#"DROP_REPLICATION_SLOT "S" WAIT"#);
        assert_eq!(
            start_replication_sql(Some("s"), &pgoutput, PgLsn(0x1_0000_0010), None, &[("publication_names", "a'b")])
                .unwrap(),
            r#"START_REPLICATION SLOT "s" LOGICAL 1/10 ("publication_names" 'a''b')"#
        );
        assert_eq!(
            start_replication_sql(None, &SlotKind::Physical, PgLsn(5), Some(2), &[]).unwrap(),
            "START_REPLICATION PHYSICAL 0/5 TIMELINE 2"
        );
        assert!(start_replication_sql(None, &pgoutput, PgLsn(0), None, &[]).is_err());
        assert!(start_replication_sql(Some("s"), &pgoutput, PgLsn(0), Some(1), &[]).is_err());
        assert!(start_replication_sql(None, &SlotKind::Physical, PgLsn(0), None, &[("a", "b")]).is_err());
    }

    #[test]
    fn an_answer_without_its_row_is_a_typed_error() {
        assert!(matches!(SystemIdentity::from_answer(&[]), Err(Error::Protocol(_))));
        assert!(matches!(ReplicationSlot::from_answer(&[], "s"), Err(Error::Protocol(_))));
    }
}
