//! Analysis periods, windows and bases: the vocabulary of Jetstream's tables and exports.

use serde::{Deserialize, Serialize};
use std::fmt;

/// An analysis period, serialised as Jetstream's `AnalysisPeriod.value`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum AnalysisPeriod {
    #[serde(rename = "day")]
    Day,
    #[serde(rename = "week")]
    Week,
    #[serde(rename = "days28")]
    Days28,
    #[serde(rename = "overall")]
    Overall,
    #[serde(rename = "preenrollment_week")]
    PreenrollmentWeek,
    #[serde(rename = "preenrollment_days28")]
    PreenrollmentDays28,
}

impl AnalysisPeriod {
    /// Every period, in the order Jetstream lists them.
    pub const ALL: [AnalysisPeriod; 6] = [
        AnalysisPeriod::Day,
        AnalysisPeriod::Week,
        AnalysisPeriod::Days28,
        AnalysisPeriod::Overall,
        AnalysisPeriod::PreenrollmentWeek,
        AnalysisPeriod::PreenrollmentDays28,
    ];

    /// The value used in table names (`statistics_<slug>_<value>_<n>`) and on the CLI.
    pub fn value(self) -> &'static str {
        match self {
            AnalysisPeriod::Day => "day",
            AnalysisPeriod::Week => "week",
            AnalysisPeriod::Days28 => "days28",
            AnalysisPeriod::Overall => "overall",
            AnalysisPeriod::PreenrollmentWeek => "preenrollment_week",
            AnalysisPeriod::PreenrollmentDays28 => "preenrollment_days28",
        }
    }

    /// The suffix of views and exported files (`statistics_<slug>_<suffix>.json`).
    pub fn table_suffix(self) -> &'static str {
        match self {
            AnalysisPeriod::Day => "daily",
            AnalysisPeriod::Week => "weekly",
            AnalysisPeriod::Days28 => "days28",
            AnalysisPeriod::Overall => "overall",
            AnalysisPeriod::PreenrollmentWeek => "preenrollment_weekly",
            AnalysisPeriod::PreenrollmentDays28 => "preenrollment_days28",
        }
    }

    /// Parses a period from its value (`day`) or its metric-hub config key (`daily`, `28_day`).
    pub fn parse(name: &str) -> Option<AnalysisPeriod> {
        Some(match name {
            "day" | "daily" => AnalysisPeriod::Day,
            "week" | "weekly" => AnalysisPeriod::Week,
            "days28" | "28_day" => AnalysisPeriod::Days28,
            "overall" => AnalysisPeriod::Overall,
            "preenrollment_week" | "preenrollment_weekly" => AnalysisPeriod::PreenrollmentWeek,
            "preenrollment_days28" => AnalysisPeriod::PreenrollmentDays28,
            _ => return None,
        })
    }

    /// True for the two periods measured before enrollment.
    pub fn is_preenrollment(self) -> bool {
        matches!(
            self,
            AnalysisPeriod::PreenrollmentWeek | AnalysisPeriod::PreenrollmentDays28
        )
    }
}

impl fmt::Display for AnalysisPeriod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.value())
    }
}

/// The population a metric is measured on: every enrolled client, or only exposed ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AnalysisBasis {
    Enrollments,
    Exposures,
}

impl AnalysisBasis {
    /// Both bases, in Jetstream's default order.
    pub const ALL: [AnalysisBasis; 2] = [AnalysisBasis::Enrollments, AnalysisBasis::Exposures];

    /// The value used in table names and statistics rows.
    pub fn value(self) -> &'static str {
        match self {
            AnalysisBasis::Enrollments => "enrollments",
            AnalysisBasis::Exposures => "exposures",
        }
    }

    /// Parses `enrollments` / `exposures`.
    pub fn parse(name: &str) -> Option<AnalysisBasis> {
        match name {
            "enrollments" => Some(AnalysisBasis::Enrollments),
            "exposures" => Some(AnalysisBasis::Exposures),
            _ => None,
        }
    }
}

impl fmt::Display for AnalysisBasis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.value())
    }
}

/// An inclusive range of days relative to each client's enrollment (0 = enrollment day).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct AnalysisWindow {
    pub start: i64,
    pub end: i64,
}

impl AnalysisWindow {
    /// Number of days the window covers (`analysis_length_dates` upstream).
    pub fn length_days(self) -> i64 {
        self.end - self.start + 1
    }
}
