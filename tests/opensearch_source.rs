//! The OpenSearch source against a real OpenSearch REST peer (osmem-server): complete windows
//! (no 10,000 cap), exact bounds, facility filter, scroll fallback, and errors that are never
//! empty results.

mod common;

use std::collections::HashSet;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::{Duration, Instant};

use common::osmem::Osmem;
use mailtrace::source::opensearch::{
    OpenSearchSettings, OpenSearchSource, Pagination, SourceError,
};
use serde_json::{json, Value};

/// 2026-02-04T08:00:00Z, the day of the seed fixture.
const BASE_MS: i64 = 1_770_192_000_000;
const MS: i64 = 1_000_000;

fn ts(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap()
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

/// A document shaped like the seed fixture's lines.
fn doc(id: &str, ms: i64, namespace: &str) -> Value {
    json!({
        "_id": id,
        "@timestamp": ts(ms),
        "host": { "name": "relay1" },
        "data_stream": { "namespace": namespace },
        "appname": "postfix/smtp",
        "message": format!("A1001CC0001: to=<bob@example.com>, status=sent ({id})"),
    })
}

fn settings(os: &Osmem, index: &str) -> OpenSearchSettings {
    OpenSearchSettings {
        host: "127.0.0.1".into(),
        port: os.port,
        index: index.into(),
        timeout: Duration::from_secs(10),
        page_size: 1000,
        timestamp_field: "@timestamp".into(),
        facility_field: "data_stream.namespace".into(),
        facility_value: "mail".into(),
        ..Default::default()
    }
}

/// 25,000 in-window documents over two indices, 7 per millisecond (so page boundaries fall
/// inside runs of equal timestamps), plus documents just outside the window.
fn load_25k(os: &Osmem) -> HashSet<String> {
    let mut a = Vec::new();
    let mut b = Vec::new();
    let mut ids = HashSet::new();
    for i in 0..25_000i64 {
        let id = format!("d{i:05}");
        let d = doc(&id, BASE_MS + i / 7, "mail");
        if i % 2 == 0 {
            a.push(d)
        } else {
            b.push(d)
        }
        ids.insert(id);
    }
    a.push(doc("before", BASE_MS - 1, "mail"));
    b.push(doc("after", BASE_MS + 3_600_000, "mail"));
    os.bulk_index("mail-a", &a);
    os.bulk_index("mail-b", &b);
    ids
}

fn assert_complete_and_ordered(hits: &[mailtrace::source::opensearch::Hit], ids: &HashSet<String>) {
    assert_eq!(hits.len(), 25_000, "every document of the window");
    let got: HashSet<String> = hits.iter().map(|h| h.id.clone()).collect();
    assert_eq!(got.len(), 25_000, "each _id exactly once");
    assert_eq!(&got, ids);
    let times: Vec<String> = hits
        .iter()
        .map(|h| {
            let doc: serde_json::Value = serde_json::from_str(h.source.get()).unwrap();
            doc["@timestamp"].as_str().unwrap().to_string()
        })
        .collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "time order");
}

#[tokio::test]
async fn pit_returns_all_25000_documents_in_time_order() {
    let os = Osmem::start();
    let ids = load_25k(&os);
    let src = OpenSearchSource::new(settings(&os, "mail-*")).unwrap();

    let mut pages = Vec::new();
    let n = src
        .fetch_window_pages(BASE_MS * MS, (BASE_MS + 3_600_000) * MS, |p| pages.push(p))
        .await
        .unwrap();
    assert_eq!(n, 25_000);
    assert!(
        pages.iter().all(|p| p.len() <= 1000),
        "pages bounded by page_size"
    );
    assert_eq!(pages.len(), 25);
    assert_eq!(src.pagination_in_use(), Some(Pagination::Pit));
    let hits: Vec<_> = pages.into_iter().flatten().collect();
    assert_complete_and_ordered(&hits, &ids);

    // The non-streaming variant gives the same.
    let again = src
        .fetch_window(BASE_MS * MS, (BASE_MS + 3_600_000) * MS)
        .await
        .unwrap();
    assert_eq!(again, hits);
}

#[tokio::test]
async fn scroll_returns_the_same_complete_result() {
    let os = Osmem::start();
    let ids = load_25k(&os);
    let mut s = settings(&os, "mail-*");
    s.pagination = Pagination::Scroll;
    s.page_size = 777; // not a divisor of 25,000: the last page is short
    let src = OpenSearchSource::new(s).unwrap();
    let hits = src
        .fetch_window(BASE_MS * MS, (BASE_MS + 3_600_000) * MS)
        .await
        .unwrap();
    assert_complete_and_ordered(&hits, &ids);
    assert_eq!(src.pagination_in_use(), Some(Pagination::Scroll));
}

#[tokio::test]
async fn auto_falls_back_to_scroll_when_pit_is_refused_and_remembers() {
    let os = Osmem::start();
    let docs: Vec<Value> = (0..2_500i64)
        .map(|i| doc(&format!("d{i:04}"), BASE_MS + i / 3, "mail"))
        .collect();
    os.bulk_index("mail-a", &docs);
    let (port, refused) = common::osmem::pit_refusing_proxy(&os.url);
    let mut s = settings(&os, "mail-*");
    s.port = port;
    let src = OpenSearchSource::new(s).unwrap();
    let window = (BASE_MS * MS, (BASE_MS + 3_600_000) * MS);
    for _ in 0..2 {
        let hits = src.fetch_window(window.0, window.1).await.unwrap();
        let ids: Vec<String> = hits.into_iter().map(|h| h.id).collect();
        let want: Vec<String> = (0..2_500).map(|i| format!("d{i:04}")).collect();
        assert_eq!(ids, want);
        assert_eq!(src.pagination_in_use(), Some(Pagination::Scroll));
    }
    assert_eq!(
        refused.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "PIT tried once"
    );

    // Forced PIT on such a cluster is an error, not an empty window.
    let mut s = settings(&os, "mail-*");
    s.port = port;
    s.pagination = Pagination::Pit;
    let err = OpenSearchSource::new(s)
        .unwrap()
        .fetch_window(window.0, window.1)
        .await
        .unwrap_err();
    assert!(
        matches!(err, SourceError::Http { status: 405, .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn window_bounds_facility_filter_and_ingest_time() {
    let os = Osmem::start();
    let from = BASE_MS + 10_000;
    let to = BASE_MS + 20_000;
    let mut docs = vec![
        doc("at-from", from, "mail"),
        doc("inside", from + 5_000, "mail"),
        doc("last-ms", to - 1, "mail"),
        doc("at-to", to, "mail"),
        doc("before", from - 1, "mail"),
        doc("kern", from + 1, "kern"),
    ];
    // Late shipper: event time long before the window, ingested inside it.
    let mut late = doc("late", BASE_MS - 3_600_000, "mail");
    late["event"] = json!({ "ingested": ts(from + 2) });
    docs.push(late);
    for d in &mut docs {
        if d.get("event").is_none() {
            d["event"] = json!({ "ingested": d["@timestamp"].clone() });
        }
    }
    os.bulk_index("mail-2026.02.04", &docs);
    let ids = |hits: Vec<mailtrace::source::opensearch::Hit>| {
        hits.into_iter().map(|h| h.id).collect::<Vec<_>>()
    };

    let src = OpenSearchSource::new(settings(&os, "mail-*")).unwrap();
    let got = ids(src.fetch_window(from * MS, to * MS).await.unwrap());
    assert_eq!(got, ["at-from", "inside", "last-ms"]);

    // Sub-millisecond bounds: [from + 1ns, to) starts after a doc at `from`.
    let got = ids(src.fetch_window(from * MS + 1, to * MS).await.unwrap());
    assert_eq!(got, ["inside", "last-ms"]);

    let mut s = settings(&os, "mail-*");
    s.facility_field = String::new();
    let src = OpenSearchSource::new(s).unwrap();
    let got = ids(src.fetch_window(from * MS, to * MS).await.unwrap());
    assert_eq!(
        got,
        ["at-from", "kern", "inside", "last-ms"],
        "no facility filter"
    );

    let mut s = settings(&os, "mail-*");
    s.ingest_timestamp_field = Some("event.ingested".into());
    let src = OpenSearchSource::new(s).unwrap();
    let got = ids(src.fetch_window(from * MS, to * MS).await.unwrap());
    assert_eq!(
        got,
        ["late", "at-from", "inside", "last-ms"],
        "window on ingest time, sorted by event time"
    );
}

#[tokio::test]
async fn dotted_timestamp_field_nested_and_flat() {
    let os = Osmem::start();
    let nested = json!({ "_id": "nested", "log": { "ts": ts(BASE_MS + 1) }, "message": "n",
                         "data_stream": { "namespace": "mail" } });
    let flat = json!({ "_id": "flat", "log.ts": ts(BASE_MS + 2), "message": "f",
                       "data_stream.namespace": "mail" });
    let outside = json!({ "_id": "outside", "log": { "ts": ts(BASE_MS + 5_000) }, "message": "o",
                          "data_stream": { "namespace": "mail" } });
    os.bulk_index("syslog", &[flat, outside, nested]);
    let mut s = settings(&os, "syslog");
    s.timestamp_field = "log.ts".into();
    let src = OpenSearchSource::new(s).unwrap();
    let got: Vec<String> = src
        .fetch_window(BASE_MS * MS, (BASE_MS + 1_000) * MS)
        .await
        .unwrap()
        .into_iter()
        .map(|h| h.id)
        .collect();
    assert_eq!(got, ["nested", "flat"]);
}

#[tokio::test]
async fn unreachable_server_is_a_quick_error_naming_host_and_port() {
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    }; // closed again: nothing listens there now
    let src = OpenSearchSource::new(OpenSearchSettings {
        host: "127.0.0.1".into(),
        port,
        index: "mail-*".into(),
        timeout: Duration::from_secs(2),
        username: Some("reader".into()),
        password: Some("hunter2-secret".into()),
        ..Default::default()
    })
    .unwrap();
    let started = Instant::now();
    let err = src.fetch_window(0, 1_000 * MS).await.unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
    let shown = err.to_string();
    assert!(matches!(err, SourceError::Connect { .. }), "{err:?}");
    assert!(shown.contains(&format!("127.0.0.1:{port}")), "{shown}");
    assert!(shown.contains("mail-*"), "{shown}");
    assert!(!shown.contains("hunter2-secret"), "{shown}");
    assert!(!shown.contains('\n'), "one line: {shown}");
    assert!(err.is_transient());
    assert!(src.ping().await.is_err());
}

#[tokio::test]
async fn missing_concrete_index_is_an_error_but_an_empty_pattern_is_empty() {
    let os = Osmem::start();
    os.bulk_index("mail-a", &[doc("x", BASE_MS, "mail")]);
    for mode in [Pagination::Auto, Pagination::Scroll] {
        let mut s = settings(&os, "no-such-index");
        s.pagination = mode;
        let src = OpenSearchSource::new(s).unwrap();
        let err = src.fetch_window(0, i64::MAX / 2).await.unwrap_err();
        assert!(
            matches!(err, SourceError::IndexNotFound { .. }),
            "{mode:?}: {err:?}"
        );
        assert!(err.to_string().contains("no-such-index"), "{err}");
        assert!(
            err.to_string().contains(&format!("127.0.0.1:{}", os.port)),
            "{err}"
        );

        // A pattern that matches no index (yet) is an empty window, as OpenSearch says.
        let mut s = settings(&os, "nothing-*");
        s.pagination = mode;
        let src = OpenSearchSource::new(s).unwrap();
        assert_eq!(src.fetch_window(0, i64::MAX / 2).await.unwrap(), vec![]);
        // …and does not make Auto give up PITs for good.
        if mode == Pagination::Auto {
            assert_eq!(src.pagination_in_use(), None);
        }
    }
}

#[tokio::test]
async fn pattern_emptied_after_pit_use_is_still_an_empty_window() {
    // Retention deletes the last index of the pattern after rounds that used PITs.
    let os = Osmem::start();
    os.bulk_index("gone-1", &[doc("x", BASE_MS, "mail")]);
    let src = OpenSearchSource::new(settings(&os, "gone-*")).unwrap();
    let window = (BASE_MS * MS, (BASE_MS + 1_000) * MS);
    assert_eq!(src.fetch_window(window.0, window.1).await.unwrap().len(), 1);
    assert_eq!(src.pagination_in_use(), Some(Pagination::Pit));
    os.delete("/gone-1");
    assert_eq!(src.fetch_window(window.0, window.1).await.unwrap(), vec![]);
    os.bulk_index("gone-2", &[doc("y", BASE_MS, "mail")]);
    let got = src.fetch_window(window.0, window.1).await.unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(
        src.pagination_in_use(),
        Some(Pagination::Pit),
        "PIT again, not scroll for good"
    );
}

#[tokio::test]
async fn ping_reports_the_version() {
    let os = Osmem::start();
    let src = OpenSearchSource::new(settings(&os, "mail-*")).unwrap();
    assert_eq!(src.ping().await.unwrap(), "3.8.0");
}

/// What osmem cannot be made to do (answer 503, send broken JSON): a stub peer that answers
/// every request with one canned HTTP response and counts requests.
fn stub_peer(response: &'static str) -> (u16, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let count = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let c = count.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { break };
            c.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            // Read the request head and body (small; one read usually suffices).
            let mut buf = [0u8; 65536];
            let _ = stream.set_read_timeout(Some(Duration::from_millis(200)));
            let _ = stream.read(&mut buf);
            let _ = stream.write_all(response.as_bytes());
        }
    });
    (port, count)
}

#[tokio::test]
async fn busy_server_is_retried_a_bounded_number_of_times_then_an_error() {
    let (port, count) = stub_peer(
        "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 0\r\nContent-Type: application/json\r\n\
         Content-Length: 2\r\nConnection: close\r\n\r\n{}",
    );
    let src = OpenSearchSource::new(OpenSearchSettings {
        host: "127.0.0.1".into(),
        port,
        index: "mail-*".into(),
        timeout: Duration::from_secs(2),
        max_attempts: 3,
        ..Default::default()
    })
    .unwrap();
    let err = src.fetch_window(0, 1_000 * MS).await.unwrap_err();
    assert!(
        matches!(err, SourceError::Http { status: 503, .. }),
        "{err:?}"
    );
    assert_eq!(count.load(std::sync::atomic::Ordering::SeqCst), 3);
}

#[tokio::test]
async fn malformed_json_is_an_error_not_an_empty_window() {
    let (port, _) = stub_peer(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 9\r\n\
         Connection: close\r\n\r\n{\"hits\":[",
    );
    let mut s = OpenSearchSettings {
        host: "127.0.0.1".into(),
        port,
        index: "mail-*".into(),
        timeout: Duration::from_secs(2),
        ..Default::default()
    };
    s.pagination = Pagination::Scroll;
    let src = OpenSearchSource::new(s).unwrap();
    let err = src.fetch_window(0, 1_000 * MS).await.unwrap_err();
    assert!(matches!(err, SourceError::Malformed { .. }), "{err:?}");
}
