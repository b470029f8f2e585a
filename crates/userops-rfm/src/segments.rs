//! The RFM segment map of SPEC §9, from (R score, F score) with 5 bins.

/// The segments in the order summaries list them (best first).
pub const SEGMENTS: [&str; 10] = [
    "Champions",
    "Loyal Customers",
    "Potential Loyalists",
    "New Customers",
    "Promising",
    "Need Attention",
    "About to Sleep",
    "At Risk",
    "Can't Lose Them",
    "Hibernating",
];

/// The segment of a user with recency score `r` and frequency score `f` (both 1–5).
pub fn segment(r: u32, f: u32) -> &'static str {
    match (r, f) {
        (1..=2, 1..=2) => "Hibernating",
        (1..=2, 3..=4) => "At Risk",
        (1..=2, _) => "Can't Lose Them",
        (3, 1..=2) => "About to Sleep",
        (3, 3) => "Need Attention",
        (3..=4, 4..=5) => "Loyal Customers",
        (4, 1) => "Promising",
        (5, 1) => "New Customers",
        (4..=5, 2..=3) => "Potential Loyalists",
        _ => "Champions",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_map_matches_the_spec_table() {
        let expected = [
            // f = 1..5 for r = 1..5
            ["Hibernating", "Hibernating", "At Risk", "At Risk", "Can't Lose Them"],
            ["Hibernating", "Hibernating", "At Risk", "At Risk", "Can't Lose Them"],
            ["About to Sleep", "About to Sleep", "Need Attention", "Loyal Customers", "Loyal Customers"],
            ["Promising", "Potential Loyalists", "Potential Loyalists", "Loyal Customers", "Loyal Customers"],
            ["New Customers", "Potential Loyalists", "Potential Loyalists", "Champions", "Champions"],
        ];
        for r in 1..=5 {
            for f in 1..=5 {
                assert_eq!(segment(r, f), expected[r as usize - 1][f as usize - 1], "r={r} f={f}");
                assert!(SEGMENTS.contains(&segment(r, f)));
            }
        }
    }
}
