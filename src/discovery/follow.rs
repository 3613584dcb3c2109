//! The words of following a change into discovery, shared by the CLI (`add`, `remove`,
//! `scale` wait for their workers) and the TUI (its footer and messages say the same).

use super::planner_endpoint;

/// "VllmWorker on endpoint generate" (the endpoint the planner counts), or the type.
pub fn what(ty: &str) -> String {
    match planner_endpoint(ty) {
        Some(e) => format!("{ty} on endpoint {e}"),
        None => ty.to_string(),
    }
}

/// "waiting for discovery to register VllmWorker on endpoint generate (1 registered now)".
pub fn waiting(adding: bool, what: &str, before: usize) -> String {
    format!(
        "waiting for discovery to {} {what} ({before} registered now)",
        if adding { "register" } else { "drop" }
    )
}

/// "VllmWorker on endpoint generate: 2 registered in discovery, after 3.1 s (1 before)".
pub fn reached(what: &str, n: usize, secs: f64, before: usize) -> String {
    format!("{what}: {n} registered in discovery, after {secs:.1} s ({before} before)")
}

/// "VllmWorker on endpoint generate still not registered in discovery after 60 s:
/// 1 before, 1 now" (`now` unknown when no source answers any more).
pub fn timed_out(what: &str, adding: bool, secs: f64, before: usize, now: Option<usize>) -> String {
    format!(
        "{what} still {}registered in discovery after {secs:.0} s: {before} before, {} now",
        if adding { "not " } else { "" },
        now.map_or("unknown".to_string(), |n| n.to_string()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_words() {
        let w = what("VllmWorker");
        assert_eq!(w, "VllmWorker on endpoint generate");
        assert_eq!(
            waiting(true, &w, 1),
            "waiting for discovery to register VllmWorker on endpoint generate (1 registered now)"
        );
        assert_eq!(
            reached(&w, 2, 3.04, 1),
            "VllmWorker on endpoint generate: 2 registered in discovery, after 3.0 s (1 before)"
        );
        assert_eq!(
            timed_out(&w, false, 60.0, 2, None),
            "VllmWorker on endpoint generate still registered in discovery after 60 s: 2 before, unknown now"
        );
    }
}
