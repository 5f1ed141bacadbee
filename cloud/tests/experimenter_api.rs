//! The Experimenter client against a local HTTP server serving the shared fixtures: the list
//! and single-experiment endpoints, malformed payloads, server errors, timeouts and 404s.

use jetstream_cloud::experimenter::{ExperimenterClient, ExperimenterConfig, FetchError};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the server answers for a path: status, body, and a delay before answering.
#[derive(Clone)]
struct Answer {
    status: u16,
    body: String,
    delay: Duration,
}

fn ok(body: String) -> Answer {
    Answer {
        status: 200,
        body,
        delay: Duration::ZERO,
    }
}

/// A server with scripted answers per path (a path's answers are used in order, the last one
/// repeatedly), counting requests and recording user agents.
struct Server {
    url: String,
    hits: Arc<AtomicUsize>,
    agents: Arc<Mutex<Vec<String>>>,
}

fn serve(routes: HashMap<String, Vec<Answer>>) -> Server {
    let server = tiny_http::Server::http("127.0.0.1:0").unwrap();
    let url = format!("http://{}/api/v8/experiments/", server.server_addr());
    let hits = Arc::new(AtomicUsize::new(0));
    let agents = Arc::new(Mutex::new(Vec::new()));
    let (h, a) = (hits.clone(), agents.clone());
    let served = Arc::new(Mutex::new(HashMap::<String, usize>::new()));
    std::thread::spawn(move || {
        for request in server.incoming_requests() {
            h.fetch_add(1, Ordering::SeqCst);
            if let Some(agent) = request
                .headers()
                .iter()
                .find(|h| h.field.equiv("User-Agent"))
            {
                a.lock().unwrap().push(agent.value.to_string());
            }
            let path = request.url().to_string();
            let answer = match routes.get(&path) {
                Some(answers) => {
                    let mut served = served.lock().unwrap();
                    let n = served.entry(path.clone()).or_default();
                    let answer = answers[(*n).min(answers.len() - 1)].clone();
                    *n += 1;
                    answer
                }
                None => Answer {
                    status: 404,
                    body: "{\"detail\": \"Not found.\"}".into(),
                    delay: Duration::ZERO,
                },
            };
            std::thread::spawn(move || {
                std::thread::sleep(answer.delay);
                let _ = request.respond(
                    tiny_http::Response::from_string(answer.body).with_status_code(answer.status),
                );
            });
        }
    });
    Server { url, hits, agents }
}

/// A fixture of the shared reference material (`$JETSTREAM_SHARED`, `/work/shared`, or
/// `../shared` next to the repository), as the other end-to-end tests find it.
fn fixture(name: &str) -> String {
    let relative = PathBuf::from("corpus/experiments").join(name);
    let candidates = [
        std::env::var_os("JETSTREAM_SHARED").map(PathBuf::from),
        Some(PathBuf::from("/work/shared")),
        Some(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared")),
    ];
    let path = candidates
        .into_iter()
        .flatten()
        .map(|dir| dir.join(&relative))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "fixture {} not found in the shared reference material (set JETSTREAM_SHARED)",
                relative.display()
            )
        });
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn quick(url: &str) -> ExperimenterConfig {
    let mut config = ExperimenterConfig::new(url);
    config.backoff_unit = Duration::from_millis(10);
    config.timeout = Duration::from_secs(2);
    config
}

#[test]
fn the_list_endpoint_yields_every_valid_experiment_and_skips_malformed_ones() {
    let list: serde_json::Value =
        serde_json::from_str(&fixture("jetstream-test-nimbus-experimenter.json")).unwrap();
    let mut entries = list.as_array().unwrap().clone();
    entries.push(serde_json::json!({"slug": 42, "branches": "nope"}));
    let server = serve(HashMap::from([(
        "/api/v8/experiments/".to_string(),
        vec![ok(serde_json::to_string(&entries).unwrap())],
    )]));
    let client = ExperimenterClient::new(quick(&server.url)).unwrap();
    let experiments = client.all().unwrap();
    // The fixture's third entry has no slug, and the fourth is malformed: both are skipped.
    assert_eq!(
        experiments
            .iter()
            .map(|e| e.slug.as_str())
            .collect::<Vec<_>>(),
        vec![
            "bug-1629098-rapid-please-reject-me-beta-86",
            "bug-1629000-rapid-testing-rapido-intake-1-release-79"
        ]
    );
    assert_eq!(server.agents.lock().unwrap()[0], "jetstream");
}

#[test]
fn one_slug_fetches_its_own_endpoint() {
    let server = serve(HashMap::from([(
        "/api/v8/experiments/fenix-bookmark-list-icon/".to_string(),
        vec![ok(fixture("jetstream-test-fenix-experiment.json"))],
    )]));
    let client = ExperimenterClient::new(quick(&server.url)).unwrap();
    let experiments = client
        .for_slugs(&["fenix-bookmark-list-icon".to_string()])
        .unwrap();
    assert_eq!(experiments.len(), 1);
    assert_eq!(experiments[0].slug, "fenix-bookmark-list-icon");
    match client.one("no-such-experiment") {
        Err(FetchError::NotFound { slug, url }) => {
            assert_eq!(slug, "no-such-experiment");
            assert!(
                url.ends_with("/api/v8/experiments/no-such-experiment/"),
                "{url}"
            );
        }
        other => panic!("expected NotFound, got {other:?}"),
    }
}

#[test]
fn server_errors_are_retried_and_then_succeed() {
    let failing = Answer {
        status: 503,
        body: "busy".into(),
        delay: Duration::ZERO,
    };
    let server = serve(HashMap::from([(
        "/api/v8/experiments/".to_string(),
        vec![
            failing.clone(),
            failing,
            ok(fixture("jetstream-test-nimbus-experimenter.json")),
        ],
    )]));
    let client = ExperimenterClient::new(quick(&server.url)).unwrap();
    assert_eq!(client.all().unwrap().len(), 2);
    assert_eq!(server.hits.load(Ordering::SeqCst), 3);
}

#[test]
fn bad_payloads_and_timeouts_give_errors_that_name_the_url() {
    let server = serve(HashMap::from([
        (
            "/api/v8/experiments/".to_string(),
            vec![ok("[{\"slug\": ".into())],
        ),
        (
            "/api/v8/experiments/slow/".to_string(),
            vec![Answer {
                status: 200,
                body: fixture("jetstream-test-fenix-experiment.json"),
                delay: Duration::from_secs(5),
            }],
        ),
        (
            "/api/v8/experiments/forbidden/".to_string(),
            vec![Answer {
                status: 403,
                body: "no".into(),
                delay: Duration::ZERO,
            }],
        ),
    ]));
    let client = ExperimenterClient::new(quick(&server.url)).unwrap();
    let truncated = client.all().unwrap_err().to_string();
    assert!(truncated.contains(&server.url), "{truncated}");
    assert!(truncated.contains("invalid JSON"), "{truncated}");

    let slow = client.one("slow").unwrap_err().to_string();
    assert!(slow.contains("/slow/"), "{slow}");
    assert!(slow.contains("timed out"), "{slow}");
    assert!(slow.contains("after 3 attempt(s)"), "{slow}");

    // A client error is not retried.
    let before = server.hits.load(Ordering::SeqCst);
    let forbidden = client.one("forbidden").unwrap_err().to_string();
    assert!(forbidden.contains("HTTP 403"), "{forbidden}");
    assert_eq!(server.hits.load(Ordering::SeqCst), before + 1);
}

#[test]
fn an_unreachable_server_is_a_clear_error() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}/api/v8/experiments/");
    let client = ExperimenterClient::new(quick(&url)).unwrap();
    let e = client.all().unwrap_err().to_string();
    assert!(e.contains(&url) && e.contains("cannot connect"), "{e}");
}
