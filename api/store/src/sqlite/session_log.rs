//! The session log: one page of sessions matching a query, newest start first, read through
//! the indexes that keep paging cheap however long the history.

use rusqlite::{Transaction, params};

use super::{LASTING, LONG_SESSION_US, SqliteStore};
use crate::calendar::Micros;
use crate::error::{Error, Result};
use crate::model::{
    ABSENT, CiRecord, DimId, Dimensions, SessionCursor, SessionPage, SessionQuery, SessionRecord, SessionTarget,
};

impl SqliteStore {
    pub(super) fn list_page(&self, query: &SessionQuery) -> Result<SessionPage> {
        if query.limit == 0 {
            return Err(Error::EmptyPage { limit: query.limit });
        }
        let empty = SessionPage {
            sessions: Vec::new(),
            next: None,
        };
        if query.from.is_some_and(|from| from >= query.to) {
            return Ok(empty);
        }
        let mut reader = self.reader()?;
        let guard = self.dims.read().unwrap_or_else(|p| p.into_inner());
        let tx = reader.conn().transaction()?;
        // As in `snapshot`: the first read fixes what this transaction sees, and the guard keeps
        // the matching dimensions from being replaced meanwhile.
        tx.query_row("SELECT count(*) FROM meta", [], |_| Ok(()))?;
        let dims = guard.clone();
        drop(guard);

        let Some(filter) = ListFilter::resolve(&dims, query) else {
            return Ok(empty);
        };
        // Row ids start at 1, so (to, 0) excludes exactly the sessions starting at or after `to`.
        let mut before = (query.to, 0);
        if let Some(after) = query.after {
            before = before.min((after.start, after.id));
        }
        let mut found = list_sessions(&tx, &dims, query, &filter, before)?;
        let next = if found.len() > query.limit {
            found.truncate(query.limit);
            found.last().map(|(cursor, _)| *cursor)
        } else {
            None
        };
        Ok(SessionPage {
            sessions: found.into_iter().map(|(_, record)| record).collect(),
            next,
        })
    }
}

/// Columns of a listed session, as [`listed_session`] reads them.
pub(super) const LISTED_COLUMNS: &str = "id, session_id, start_us, end_us, identity_id, target_id, namespace_id, ci_id, \
     cli_version_id, operator_version_id, close_reason_id, multi_cluster_parent_id";

/// A listing's filters as interned ids.
#[derive(Debug)]
pub(super) struct ListFilter {
    pub(super) identities: Option<Vec<DimId>>,
    pub(super) namespace: Option<DimId>,
    pub(super) ci: Option<bool>,
    pub(super) close_reason: Option<DimId>,
}

impl ListFilter {
    /// `None` when a filter names a value no session has, so that nothing can match.
    pub(super) fn resolve(dims: &Dimensions, query: &SessionQuery) -> Option<ListFilter> {
        let identities = match &query.user {
            None => None,
            Some(user) => {
                let user = dims.string_id(user)?;
                let ids: Vec<DimId> = dims
                    .identities()
                    .filter(|(_, identity)| {
                        let key = identity.key;
                        key.kubernetes_username == user || key.client_username == user || key.machine_id == user
                    })
                    .map(|(id, _)| id)
                    .collect();
                if ids.is_empty() {
                    return None;
                }
                Some(ids)
            }
        };
        let namespace = match &query.namespace {
            None => None,
            Some(namespace) => Some(dims.string_id(namespace)?),
        };
        let close_reason = match &query.close_reason {
            None => None,
            Some(reason) => Some(dims.string_id(reason)?),
        };
        Some(ListFilter {
            identities,
            namespace,
            ci: query.ci,
            close_reason,
        })
    }

    /// The filters as SQL conditions. Ids are our own integers, so writing them into the text is
    /// safe, and it lets an identity list of any length reach the identity index. With `indexed`
    /// unset the planner may not use an index for them (SQLite's unary `+`).
    pub(super) fn sql(&self, indexed: bool) -> String {
        use std::fmt::Write;
        let plus = if indexed { "" } else { "+" };
        let mut sql = String::new();
        if let Some(identities) = &self.identities {
            let ids: Vec<String> = identities.iter().map(DimId::to_string).collect();
            let _ = write!(sql, " AND {plus}identity_id IN ({})", ids.join(", "));
        }
        if let Some(namespace) = self.namespace {
            let _ = write!(sql, " AND {plus}namespace_id = {namespace}");
        }
        if let Some(reason) = self.close_reason {
            let _ = write!(sql, " AND close_reason_id = {reason}");
        }
        match self.ci {
            Some(true) => sql.push_str(" AND ci_id IS NOT NULL"),
            Some(false) => sql.push_str(" AND ci_id IS NULL"),
            None => {}
        }
        sql
    }
}

/// Reads a row of [`LISTED_COLUMNS`] into a record, with its position.
pub(super) fn listed_session(
    row: &rusqlite::Row<'_>,
    dims: &Dimensions,
) -> rusqlite::Result<(SessionCursor, SessionRecord)> {
    let string = |id: DimId| dims.string(id).map(|value| value.to_string());
    let cursor = SessionCursor {
        id: row.get(0)?,
        start: row.get(2)?,
    };
    let identity = dims.identity(row.get(4)?).key;
    let target = match row.get(5)? {
        ABSENT => None,
        id => {
            let key = dims.target(id);
            Some(SessionTarget {
                kind: string(key.kind).unwrap_or_default(),
                name: string(key.name).unwrap_or_default(),
                container: string(key.container),
            })
        }
    };
    let ci = row.get::<_, Option<DimId>>(7)?.map(|id| {
        let key = dims.ci_context(id);
        CiRecord {
            provider: string(key.provider),
            pipeline: string(key.pipeline),
            environment: string(key.environment),
            triggered_by: string(key.triggered_by),
        }
    });
    let record = SessionRecord {
        session_id: row.get(1)?,
        machine_id: string(identity.machine_id),
        kubernetes_username: string(identity.kubernetes_username),
        client_username: string(identity.client_username),
        client_hostname: string(identity.client_hostname),
        target,
        namespace: string(row.get(6)?),
        start: cursor.start,
        end: row.get(3)?,
        ci,
        cli_version: string(row.get(8)?),
        operator_version: string(row.get(9)?),
        close_reason: string(row.get(10)?),
        multi_cluster_parent: string(row.get(11)?),
    };
    Ok((cursor, record))
}

/// Sessions overlapping the range, by start: `?1` lowest start, `(?2, ?3)` the position to
/// stay below, `?4` the range's `from`, `?5` how many.
pub(super) fn started_sql(filter: &ListFilter) -> String {
    format!(
        "SELECT {LISTED_COLUMNS} FROM sessions \
         WHERE start_us >= ?1 AND start_us <= ?2 AND (start_us < ?2 OR id < ?3) \
         AND (end_us IS NULL OR end_us > ?4){} \
         ORDER BY start_us DESC, id DESC LIMIT ?5",
        filter.sql(true)
    )
}

/// Running sessions and sessions longer than a day that started before `?1`, below position
/// `(?2, ?3)`, and have not ended by `?5`; `?4` of them.
pub(super) fn lasting_sql(filter: &ListFilter) -> String {
    // Few sessions run at once or last that long, so their index beats the identity index here,
    // which would visit every older session of the user to find them.
    format!(
        "SELECT {LISTED_COLUMNS} FROM sessions \
         WHERE {LASTING} AND start_us < ?1 AND start_us <= ?2 AND (start_us < ?2 OR id < ?3) \
         AND (end_us IS NULL OR end_us > ?5){} \
         ORDER BY start_us DESC, id DESC LIMIT ?4",
        filter.sql(false)
    )
}

/// Up to `limit + 1` sessions overlapping the query's range and before `before` (a (start, row
/// id) position, exclusive), newest first.
///
/// Sessions are found through their start: the start-time index is read down to a day before
/// `from`; sessions that started even earlier and still overlap are running or longer than a
/// day, and come from their own index, after the others since they are older.
pub(super) fn list_sessions(
    tx: &Transaction<'_>,
    dims: &Dimensions,
    query: &SessionQuery,
    filter: &ListFilter,
    before: (Micros, i64),
) -> rusqlite::Result<Vec<(SessionCursor, SessionRecord)>> {
    let wanted = query.limit.saturating_add(1);
    let lowest_start = query
        .from
        .map_or(Micros::MIN, |from| from.saturating_sub(LONG_SESSION_US));
    let mut found = Vec::with_capacity(wanted.min(1024));
    let mut statement = tx.prepare(&started_sql(filter))?;
    let mut rows = statement.query(params![
        lowest_start,
        before.0,
        before.1,
        query.from.unwrap_or(Micros::MIN),
        wanted as i64
    ])?;
    while let Some(row) = rows.next()? {
        found.push(listed_session(row, dims)?);
    }
    if let Some(from) = query.from
        && found.len() < wanted
    {
        let mut statement = tx.prepare(&lasting_sql(filter))?;
        let more = (wanted - found.len()) as i64;
        let mut rows = statement.query(params![lowest_start, before.0, before.1, more, from])?;
        while let Some(row) = rows.next()? {
            found.push(listed_session(row, dims)?);
        }
    }
    Ok(found)
}
