//! Jetstream's platform configuration (`platform_config.toml`): each app's Experimenter
//! application id and enrollment query type.

/// What Jetstream knows about a platform (metric-hub's `app_name`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Platform {
    pub app_name: &'static str,
    /// Experimenter's application id; its dataset (`{dataset}`) is derived from it.
    pub app_id: &'static str,
    pub enrollments_query_type: &'static str,
}

/// The platforms of upstream's `platform_config.toml` (monitor_cirrus is commented out there).
pub const PLATFORMS: &[Platform] = &[
    Platform {
        app_name: "firefox_desktop",
        app_id: "firefox-desktop",
        enrollments_query_type: "normandy",
    },
    Platform {
        app_name: "fenix",
        // As upstream's platform config: the `fenix` dataset unions every Fenix channel.
        app_id: "fenix",
        enrollments_query_type: "glean-event",
    },
    Platform {
        app_name: "focus_android",
        app_id: "org.mozilla.focus",
        enrollments_query_type: "glean-event",
    },
    Platform {
        app_name: "klar_android",
        app_id: "org.mozilla.klar",
        enrollments_query_type: "glean-event",
    },
    Platform {
        app_name: "firefox_ios",
        app_id: "org.mozilla.ios.FirefoxBeta",
        enrollments_query_type: "glean-event",
    },
    Platform {
        app_name: "focus_ios",
        app_id: "org.mozilla.ios.Focus",
        enrollments_query_type: "glean-event",
    },
    Platform {
        app_name: "klar_ios",
        app_id: "org.mozilla.ios.Klar",
        enrollments_query_type: "glean-event",
    },
];

/// The platform named `app_name`, if Jetstream knows it.
pub fn platform(app_name: &str) -> Option<&'static Platform> {
    PLATFORMS.iter().find(|p| p.app_name == app_name)
}

/// The BigQuery dataset of an application id (shared with the query generator).
pub use jetstream_proto::naming::dataset_for_app_id;
