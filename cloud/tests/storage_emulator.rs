//! The Cloud Storage sink against fake-gcs-server: exports land byte for byte, under a prefix,
//! and failures name the gs:// URL.

mod common;

use common::emulators;
use jetstream_cloud::{GcsLocation, GcsSink, GoogleCredentials};
use jetstream_coordinator::export::ResultsSink;

#[test]
fn exports_land_byte_for_byte_and_are_replaced_whole() {
    let Some(gcs) = emulators::storage() else {
        return;
    };
    emulators::create_bucket(&gcs, "mozanalysis-test");
    let sink = GcsSink::open(
        GcsLocation::parse("gs://mozanalysis-test").unwrap(),
        Some(gcs.url.clone()),
        &GoogleCredentials::Anonymous,
    )
    .unwrap();
    let statistics =
        "[{\"metric\":\"active_hours\",\"point\":0.30000000000000004,\"note\":\"ünïcødé\"}]";
    sink.write("statistics/statistics_x_weekly.json", statistics.as_bytes())
        .unwrap();
    // Not JSON, and not UTF-8: bytes are bytes.
    let binary: Vec<u8> = (0..=255u8).collect();
    sink.write("errors/raw.bin", &binary).unwrap();
    assert_eq!(
        emulators::read_object(
            &gcs,
            "mozanalysis-test",
            "statistics/statistics_x_weekly.json"
        )
        .unwrap(),
        statistics.as_bytes()
    );
    assert_eq!(
        emulators::read_object(&gcs, "mozanalysis-test", "errors/raw.bin").unwrap(),
        binary
    );
    sink.write("statistics/statistics_x_weekly.json", b"[]")
        .unwrap();
    assert_eq!(
        emulators::read_object(
            &gcs,
            "mozanalysis-test",
            "statistics/statistics_x_weekly.json"
        )
        .unwrap(),
        b"[]"
    );
    let prefixed = GcsSink::open(
        GcsLocation::parse("gs://mozanalysis-test/staging/run-1").unwrap(),
        Some(gcs.url.clone()),
        &GoogleCredentials::Anonymous,
    )
    .unwrap();
    prefixed.write("metadata/metadata_x.json", b"{}").unwrap();
    assert_eq!(
        emulators::list_objects(&gcs, "mozanalysis-test"),
        vec![
            "errors/raw.bin".to_string(),
            "staging/run-1/metadata/metadata_x.json".to_string(),
            "statistics/statistics_x_weekly.json".to_string(),
        ]
    );
}

#[test]
fn a_missing_bucket_is_an_error_naming_the_object() {
    let Some(gcs) = emulators::storage() else {
        return;
    };
    let sink = GcsSink::open(
        GcsLocation::parse("gs://no-such-bucket").unwrap(),
        Some(gcs.url.clone()),
        &GoogleCredentials::Anonymous,
    )
    .unwrap();
    let e = sink
        .write("statistics/a.json", b"[]")
        .unwrap_err()
        .to_string();
    assert!(e.contains("gs://no-such-bucket/statistics/a.json"), "{e}");
}
