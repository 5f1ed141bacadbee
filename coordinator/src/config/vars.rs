//! The `experiment` object Jinja templates see (upstream's `ExperimentConfiguration`, through
//! which the Experimenter record shows): in `enrollment_query`, segment data sources and data
//! sources that reference `experiment`.

use super::template::{ExperimentValue, ExperimentVars};
use jetstream_proto::spec::ExperimentSpec;
use std::collections::BTreeMap;

/// The attributes of a resolved experiment, as upstream names them. Dates are `YYYY-MM-DD`;
/// `last_enrollment_date_str` is the start date plus the enrollment period (not minus one, as
/// upstream). A missing date makes its `_str` attribute fail with upstream's message.
pub(crate) fn experiment_vars(spec: &ExperimentSpec) -> ExperimentVars {
    let mut vars = ExperimentVars::new()
        .with("slug", spec.slug.as_str())
        .with("normandy_slug", spec.slug.as_str())
        .with("experimenter_slug", ExperimentValue::None)
        .with("app_name", spec.app_name.as_str())
        .with("app_id", spec.app_id.as_str())
        .with("type", spec.experiment_type.as_str())
        .with("status", spec.status.value())
        .with("reference_branch", spec.reference_branch.clone())
        .with("enrollment_period", spec.enrollment_period)
        .with(
            "proposed_enrollment",
            spec.overrides
                .enrollment_period
                .filter(|p| *p != 0)
                .or(spec.proposed_enrollment)
                .unwrap_or(0),
        )
        .with("is_rollout", spec.is_rollout)
        .with("skip", spec.skip)
        .with("sample_size", i64::from(spec.sample_size))
        .with("outcomes", spec.outcomes.clone())
        .with(
            "start_date",
            spec.start_date.map(|d| d.format("%Y-%m-%d").to_string()),
        )
        .with(
            "end_date",
            spec.end_date.map(|d| d.format("%Y-%m-%d").to_string()),
        )
        .with(
            "branches",
            ExperimentValue::List(
                spec.branches
                    .iter()
                    .map(|b| {
                        ExperimentValue::Map(BTreeMap::from([
                            ("slug".to_string(), ExperimentValue::Str(b.slug.clone())),
                            ("ratio".to_string(), ExperimentValue::Float(b.ratio)),
                        ]))
                    })
                    .collect(),
            ),
        );
    vars.set_unavailable("enrollment_query", "Not a valid enrollment_query");
    let no_start = format!("{} -> Experiment has no start date.", spec.slug);
    match spec.start_date {
        Some(start) => {
            vars.set("start_date_str", start.format("%Y-%m-%d").to_string());
            match chrono::Duration::try_days(spec.enrollment_period)
                .and_then(|d| start.checked_add_signed(d))
            {
                Some(last) => vars.set(
                    "last_enrollment_date_str",
                    last.format("%Y-%m-%d").to_string(),
                ),
                None => vars.set_unavailable(
                    "last_enrollment_date_str",
                    format!(
                        "{} -> the enrollment period ({} days) is out of range",
                        spec.slug, spec.enrollment_period
                    ),
                ),
            }
        }
        None => {
            vars.set_unavailable("start_date_str", no_start.clone());
            vars.set_unavailable("last_enrollment_date_str", no_start);
        }
    }
    match spec.end_date {
        Some(end) => vars.set("end_date_str", end.format("%Y-%m-%d").to_string()),
        None => vars.set_unavailable(
            "end_date_str",
            format!("{} -> Experiment has no end date.", spec.slug),
        ),
    }
    vars
}
