//! Reading an ingest request: the body is parsed event by event so that every bad event is
//! reported with its index, and nothing reaches the store unless all of them are well formed.

use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use mirrord_usage_crds::event::{Event, EventBatch};
use mirrord_usage_crds::{MAX_EVENTS_PER_BATCH, MAX_INGEST_BODY_BYTES};
use mirrord_usage_store::ingest::{EventProblem, ProblemKind, validate};
use serde_json::value::RawValue;

use crate::error::ApiError;

/// Most problems listed in an error answer: the summary still counts every one, so a large bad
/// batch cannot make an answer many times its own size.
pub(crate) const MAX_LISTED_PROBLEMS: usize = 100;
/// Longest message of one listed problem, in characters.
const MAX_PROBLEM_CHARS: usize = 300;

/// The HTTP answer to a rejected batch: `400` when any event is invalid, else `409`.
pub(crate) fn rejection(problems: Vec<EventProblem>) -> ApiError {
    let invalid = problems.iter().filter(|p| p.reason == ProblemKind::Invalid).count();
    let conflicts = problems.len() - invalid;
    let first = shortened(&problems[0].message);
    let (status, code, summary) = if invalid > 0 {
        (
            StatusCode::BAD_REQUEST,
            "invalid_events",
            format!("{invalid} invalid event(s)"),
        )
    } else {
        (
            StatusCode::CONFLICT,
            "conflicting_events",
            format!("{conflicts} event(s) contradict stored sessions"),
        )
    };
    let listed = if problems.len() > MAX_LISTED_PROBLEMS {
        format!("; the first {MAX_LISTED_PROBLEMS} are listed")
    } else {
        String::new()
    };
    let details = problems
        .into_iter()
        .take(MAX_LISTED_PROBLEMS)
        .map(|problem| {
            let problem = EventProblem {
                message: shortened(&problem.message),
                session_id: problem.session_id.map(|id| shortened(&id)),
                ..problem
            };
            serde_json::to_value(problem).expect("problems serialise")
        })
        .collect();
    ApiError::new(
        status,
        code,
        format!("{summary}; nothing of this batch was stored{listed}; first: {first}"),
    )
    .with_details(details)
}

fn shortened(text: &str) -> String {
    match text.char_indices().nth(MAX_PROBLEM_CHARS) {
        None => text.to_owned(),
        Some((end, _)) => format!("{}…", &text[..end]),
    }
}

/// A parsed request: the well-formed events, and the problems of the others (by index).
#[derive(Debug, Default)]
pub(crate) struct ParsedBatch {
    pub events: Vec<Event>,
    /// Index in the request of each of `events`.
    pub indexes: Vec<usize>,
    pub problems: Vec<EventProblem>,
}

impl ParsedBatch {
    /// Adds problems found among `events` (indexed within `events`) under their request index,
    /// keeping the list in request order.
    pub(crate) fn merge(&mut self, problems: Vec<EventProblem>) {
        self.problems.extend(problems.into_iter().map(|problem| EventProblem {
            index: self.indexes[problem.index],
            ..problem
        }));
        self.problems.sort_by_key(|problem| problem.index);
    }
}

/// Parses and validates a request body into events; the events of a bad request are still
/// returned so the caller can report every problem at once. `now` is the server's clock.
pub(crate) fn parse_batch(body: &[u8], now: DateTime<Utc>) -> Result<ParsedBatch, ApiError> {
    if body.len() > MAX_INGEST_BODY_BYTES {
        return Err(too_large(format!(
            "the request body has {} bytes; at most {MAX_INGEST_BODY_BYTES} are accepted, split the batch",
            body.len()
        )));
    }
    let batch: EventBatch<&RawValue> = serde_json::from_slice(body).map_err(|error| {
        ApiError::bad_request(
            "invalid_body",
            format!("the body must be a JSON object {{\"events\": [...]}}: {error}"),
        )
    })?;
    if batch.events.len() > MAX_EVENTS_PER_BATCH {
        return Err(too_large(format!(
            "the batch has {} events; at most {MAX_EVENTS_PER_BATCH} are accepted per request, split the batch",
            batch.events.len()
        )));
    }
    let mut parsed = ParsedBatch {
        events: Vec::with_capacity(batch.events.len()),
        ..ParsedBatch::default()
    };
    for (index, raw) in batch.events.iter().enumerate() {
        match serde_json::from_str::<Event>(raw.get()) {
            Ok(event) => match validate(&event, now) {
                Ok(()) => {
                    parsed.events.push(event);
                    parsed.indexes.push(index);
                }
                Err(message) => parsed
                    .problems
                    .push(EventProblem::invalid(index, Some(event.session_id()), message)),
            },
            Err(error) => parsed.problems.push(EventProblem::invalid(
                index,
                session_id_of(raw).as_deref(),
                error.to_string(),
            )),
        }
    }
    Ok(parsed)
}

fn too_large(message: String) -> ApiError {
    ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "batch_too_large", message)
}

/// Best effort, for error details only.
fn session_id_of(raw: &RawValue) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Id {
        #[serde(rename = "sessionId")]
        session_id: String,
    }
    serde_json::from_str::<Id>(raw.get()).ok().map(|id| id.session_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        mirrord_usage_crds::time::parse_rfc3339("2026-11-20T12:00:00Z").unwrap()
    }

    fn problems_of(body: &str) -> (StatusCode, Vec<serde_json::Value>) {
        let parsed = parse_batch(body.as_bytes(), now()).unwrap();
        let error = rejection(parsed.problems);
        (error.status, error.details)
    }

    #[test]
    fn a_well_formed_batch_parses_in_order() {
        let parsed = parse_batch(
            br#"{"events":[
                {"type":"sessionEnd","sessionId":"a","timestamp":"2026-01-01T10:00:00Z"},
                {"type":"sessionStart","sessionId":"a","timestamp":"2026-01-01T11:00:00+02:00","machineId":"m","ci":{}}
            ]}"#,
            now(),
        )
        .unwrap();
        assert!(parsed.problems.is_empty());
        let events = parsed.events;
        assert_eq!(events.len(), 2);
        assert_eq!(events[1].timestamp().to_rfc3339(), "2026-01-01T09:00:00+00:00");
        let Event::SessionStart(start) = &events[1] else {
            panic!("a start")
        };
        assert!(start.ci.is_some(), "an empty ci object still marks a CI session");
    }

    #[test]
    fn every_bad_event_is_listed_with_its_index() {
        let (status, details) = problems_of(
            r#"{"events":[
                {"type":"sessionStart","sessionId":"ok","timestamp":"2026-01-01T10:00:00Z","machineId":"m"},
                {"type":"sessionPause","sessionId":"p","timestamp":"2026-01-01T10:00:00Z"},
                {"type":"sessionStart","sessionId":"x","timestamp":"yesterday","machineId":"m"},
                {"type":"sessionStart","sessionId":"","timestamp":"2026-01-01T10:00:00Z","machineId":"m"},
                {"type":"sessionStart","sessionId":"y","timestamp":"2026-01-01T10:00:00Z"}
            ]}"#,
        );
        assert_eq!(status, StatusCode::BAD_REQUEST);
        let indexes: Vec<u64> = details.iter().map(|d| d["index"].as_u64().unwrap()).collect();
        assert_eq!(indexes, [1, 2, 3, 4]);
        assert!(details[0]["message"].as_str().unwrap().contains("sessionPause"));
        assert_eq!(details[0]["sessionId"], "p");
        assert!(details[3]["message"].as_str().unwrap().contains("machineId"));
    }

    #[test]
    fn oversized_batches_are_refused_with_413() {
        let event = r#"{"type":"sessionEnd","sessionId":"a","timestamp":"2026-01-01T10:00:00Z"}"#;
        let body = format!("{{\"events\":[{}]}}", vec![event; MAX_EVENTS_PER_BATCH + 1].join(","));
        let error = parse_batch(body.as_bytes(), now()).unwrap_err();
        assert_eq!(error.status, StatusCode::PAYLOAD_TOO_LARGE);
        assert!(error.message.contains("10001"));
    }

    #[test]
    fn a_body_that_is_not_a_batch_says_what_is_expected() {
        let error = parse_batch(b"[1,2]", now()).unwrap_err();
        assert_eq!(error.status, StatusCode::BAD_REQUEST);
        assert!(error.message.contains("{\"events\": [...]}"));
    }
    #[test]
    fn timestamps_outside_the_window_or_written_loosely_are_invalid() {
        let (status, details) = problems_of(
            r#"{"events":[
                {"type":"sessionStart","sessionId":"old","timestamp":"1970-01-01T00:00:00Z","machineId":"m"},
                {"type":"sessionStart","sessionId":"ahead","timestamp":"2026-11-20T13:00:01Z","machineId":"m"},
                {"type":"sessionStart","sessionId":"loose","timestamp":"2026-1-1T0:0:0Z","machineId":"m"},
                {"type":"sessionEnd","sessionId":"utc","timestamp":"2026-01-01T00:00:00UTC"},
                {"type":"sessionEnd","sessionId":"leap","timestamp":"2026-06-30T23:59:60Z"},
                {"type":"sessionEnd","sessionId":"fine","timestamp":"2026-11-20T13:00:00Z"}
            ]}"#,
        );
        assert_eq!(status, StatusCode::BAD_REQUEST);
        let ids: Vec<&str> = details.iter().map(|d| d["sessionId"].as_str().unwrap()).collect();
        assert_eq!(ids, ["old", "ahead", "loose", "utc", "leap"]);
        assert!(
            details[0]["message"].as_str().unwrap().contains("2020-01-01"),
            "{details:?}"
        );
    }

    #[test]
    fn a_large_bad_batch_gets_an_answer_smaller_than_itself() {
        let long = "x".repeat(2000);
        let event = format!(r#"{{"type":"sessionEnd","sessionId":"{long}","timestamp":"later"}}"#);
        let body = format!("{{\"events\":[{}]}}", vec![event; 1000].join(","));
        let parsed = parse_batch(body.as_bytes(), now()).unwrap();
        assert_eq!(parsed.problems.len(), 1000);
        let error = rejection(parsed.problems);
        assert_eq!(error.details.len(), MAX_LISTED_PROBLEMS);
        assert!(error.message.starts_with("1000 invalid event(s)"), "{}", error.message);
        let answer = serde_json::to_vec(&error).unwrap();
        assert!(
            answer.len() < body.len() / 10,
            "{} bytes for {}",
            answer.len(),
            body.len()
        );
    }
}
