//! The usage report as files: CSV (the per-user table) and XLSX (a general sheet and a per-user
//! sheet, like the license server's report).

use mirrord_usage_crds::report::{PrimaryKey, UsageReport, UserMetric};
use rust_xlsxwriter::{Format, Workbook};

/// A report that could not be written in a format.
#[derive(Debug, thiserror::Error)]
#[error("could not write the report as {format}: {message}")]
pub struct ExportError {
    format: &'static str,
    message: String,
}

type Result<T> = std::result::Result<T, ExportError>;

const USER_COLUMNS: [&str; 9] = [
    "kubernetesUsername",
    "clientUsername",
    "clientHostname",
    "activeSince",
    "lastSession",
    "sessionCount",
    "totalSessionTimeSeconds",
    "avgSessionDurationSeconds",
    "avgDailySessions",
];

/// Text as a spreadsheet will show it, never run it: a value that a spreadsheet would read as a
/// formula (starting with `=`, `+`, `-`, `@`, a tab or a carriage return) gets a leading `'`,
/// as OWASP advises against formula injection. Usernames and hostnames come from clients.
pub(crate) fn inert(text: &str) -> String {
    match text.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{text}"),
        _ => text.to_owned(),
    }
}

fn user_cells(user: &UserMetric) -> [String; 10] {
    let text = |value: &Option<String>| inert(value.as_deref().unwrap_or_default());
    [
        text(&user.id),
        text(&user.kubernetes_username),
        text(&user.client_username),
        text(&user.client_hostname),
        user.active_since.to_rfc3339(),
        user.last_session.to_rfc3339(),
        user.session_count.to_string(),
        user.total_session_time_seconds.to_string(),
        user.avg_session_duration_seconds.to_string(),
        user.avg_daily_sessions.to_string(),
    ]
}

fn users(report: &UsageReport) -> &[UserMetric] {
    report.user_metrics.as_deref().unwrap_or_default()
}

/// The per-user table; the first column is named after the primary key.
pub(crate) fn csv(report: &UsageReport, primary_key: PrimaryKey) -> Result<Vec<u8>> {
    let error = |e: csv::Error| ExportError {
        format: "csv",
        message: e.to_string(),
    };
    let mut writer = csv::Writer::from_writer(Vec::new());
    let mut header = vec![primary_key.as_str()];
    header.extend(USER_COLUMNS);
    writer.write_record(&header).map_err(error)?;
    for user in users(report) {
        writer.write_record(user_cells(user)).map_err(error)?;
    }
    writer.into_inner().map_err(|e| ExportError {
        format: "csv",
        message: e.to_string(),
    })
}

/// Two sheets: "General" (one metric per row) and "Users" (the per-user table).
pub(crate) fn xlsx(report: &UsageReport, primary_key: PrimaryKey) -> Result<Vec<u8>> {
    let error = |e: rust_xlsxwriter::XlsxError| ExportError {
        format: "xlsx",
        message: e.to_string(),
    };
    let mut workbook = Workbook::new();
    let bold = Format::new().set_bold();

    let general = workbook.add_worksheet().set_name("General").map_err(error)?;
    let g = &report.general_metrics;
    let a = &report.all_time_metrics;
    let c = &report.ci_metrics;
    let text_rows: [(&str, Option<String>); 8] = [
        ("Report from", Some(g.report_period.from.to_rfc3339())),
        ("Report to", Some(g.report_period.to.to_rfc3339())),
        ("Primary key", Some(primary_key.as_str().to_owned())),
        ("Tier", Some(g.tier.clone())),
        ("Cluster", g.cluster_name.clone()),
        ("Operator version", g.operator_version.clone()),
        ("Last operator event", g.last_operator_event.map(|t| t.to_rfc3339())),
        ("First session", a.first_session_at.map(|t| t.to_rfc3339())),
    ];
    let number_rows: [(&str, Option<f64>); 12] = [
        ("Total licenses", g.total_licenses.map(|n| n as f64)),
        ("Active users", Some(g.active_users as f64)),
        ("Active user sessions", Some(g.active_user_sessions as f64)),
        ("All-time user sessions", Some(a.total_session_count as f64)),
        ("All-time user session time (s)", Some(a.total_session_time_seconds)),
        ("All-time CI sessions", Some(a.total_ci_session_count as f64)),
        ("All-time CI session time (s)", Some(a.total_ci_session_time_seconds)),
        (
            "Max concurrent user sessions",
            Some(a.max_concurrent_user_sessions as f64),
        ),
        ("Running CI sessions", Some(c.current_running_sessions as f64)),
        ("Max concurrent CI sessions", Some(c.max_concurrent_ci_sessions as f64)),
        ("CI sessions in period", Some(c.total_ci_sessions as f64)),
        ("Mean CI session duration (s)", c.avg_ci_session_duration_seconds),
    ];
    general.write_string_with_format(0, 0, "Metric", &bold).map_err(error)?;
    general.write_string_with_format(0, 1, "Value", &bold).map_err(error)?;
    let mut row = 1;
    for (name, value) in text_rows {
        general.write_string(row, 0, name).map_err(error)?;
        general
            .write_string(row, 1, inert(&value.unwrap_or_default()))
            .map_err(error)?;
        row += 1;
    }
    for (name, value) in number_rows {
        general.write_string(row, 0, name).map_err(error)?;
        if let Some(value) = value {
            general.write_number(row, 1, value).map_err(error)?;
        }
        row += 1;
    }
    general.set_column_width(0, 32).map_err(error)?;
    general.set_column_width(1, 28).map_err(error)?;

    let sheet = workbook.add_worksheet().set_name("Users").map_err(error)?;
    sheet
        .write_string_with_format(0, 0, primary_key.as_str(), &bold)
        .map_err(error)?;
    for (column, name) in USER_COLUMNS.iter().enumerate() {
        sheet
            .write_string_with_format(0, column as u16 + 1, *name, &bold)
            .map_err(error)?;
    }
    for (index, user) in users(report).iter().enumerate() {
        let row = index as u32 + 1;
        let cells = user_cells(user);
        for (column, cell) in cells[..6].iter().enumerate() {
            sheet.write_string(row, column as u16, cell).map_err(error)?;
        }
        let numbers = [
            user.session_count as f64,
            user.total_session_time_seconds,
            user.avg_session_duration_seconds,
            user.avg_daily_sessions,
        ];
        for (offset, value) in numbers.into_iter().enumerate() {
            sheet.write_number(row, 6 + offset as u16, value).map_err(error)?;
        }
    }
    sheet.set_freeze_panes(1, 0).map_err(error)?;
    workbook.save_to_buffer().map_err(error)
}

#[cfg(test)]
mod tests {
    use super::inert;

    #[test]
    fn values_a_spreadsheet_would_run_are_quoted() {
        for formula in [
            "=HYPERLINK(\"http://x\")",
            "+cmd|' /C calc'!A0",
            "-2+3",
            "@SUM(A1)",
            "\t=1",
            "\r=1",
        ] {
            assert_eq!(inert(formula), format!("'{formula}"));
        }
        for plain in ["alice", "", "'quoted", "a=b", "2026-01-01T00:00:00+00:00"] {
            assert_eq!(inert(plain), plain);
        }
    }
}
