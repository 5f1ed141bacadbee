//! "Did you mean" hints for misspelled names (metrics, data sources, segments, statistics,
//! pre-treatments, outcomes).

/// ` (did you mean 'x'?)` for the candidate closest to `name`, or an empty string when none is
/// close enough to be a plausible typo.
pub(crate) fn did_you_mean<'a, I, S>(name: &str, candidates: I) -> String
where
    I: IntoIterator<Item = &'a S>,
    S: AsRef<str> + 'a + ?Sized,
{
    closest(name, candidates)
        .map(|c| format!(" (did you mean '{c}'?)"))
        .unwrap_or_default()
}

/// The candidate most similar to `name`, if similar enough (Jaro-Winkler ≥ 0.85, or a
/// case-insensitive match).
pub(crate) fn closest<'a, I, S>(name: &str, candidates: I) -> Option<&'a str>
where
    I: IntoIterator<Item = &'a S>,
    S: AsRef<str> + 'a + ?Sized,
{
    let lower = name.to_lowercase();
    let mut best: Option<(f64, &'a str)> = None;
    for candidate in candidates {
        let candidate = candidate.as_ref();
        if candidate == name {
            continue;
        }
        let score = if candidate.to_lowercase() == lower {
            1.0
        } else {
            strsim::jaro_winkler(&lower, &candidate.to_lowercase())
        };
        if score >= 0.85 && best.is_none_or(|(s, _)| score > s) {
            best = Some((score, candidate));
        }
    }
    best.map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_a_close_name_and_nothing_for_a_distant_one() {
        let names = ["active_hours", "search_count", "days_of_use"];
        assert_eq!(
            did_you_mean("active_hour", names.iter()),
            " (did you mean 'active_hours'?)"
        );
        assert_eq!(
            did_you_mean("Search_Count", names.iter()),
            " (did you mean 'search_count'?)"
        );
        assert_eq!(did_you_mean("zzz", names.iter()), "");
    }
}
