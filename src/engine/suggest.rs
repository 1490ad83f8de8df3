//! "Did you mean …?" for misspelt names: field names, volume names, rule ids.

/// Longest word considered a typo: anything longer is not a misspelt name, and the
/// quadratic distance must stay cheap on hostile input (a 10 MB key).
const MAX_WORD: usize = 128;

/// The candidate nearest to `word` when it is a plausible typo: a case-insensitive edit
/// distance of at most a third of the candidate's length (and at least 2).
pub fn closest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    if word.len() > MAX_WORD {
        return None;
    }
    let word = word.to_lowercase();
    candidates
        .into_iter()
        .filter(|candidate| candidate.len() <= MAX_WORD)
        .map(|candidate| (edit_distance(&word, &candidate.to_lowercase()), candidate))
        .filter(|(distance, candidate)| *distance <= (candidate.chars().count() / 3).max(2))
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate)
}

/// Levenshtein distance over characters, one row at a time.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = i;
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (diagonal + usize::from(ca != *cb))
                .min(above + 1)
                .min(row[j] + 1);
            diagonal = above;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn measures_edits() {
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("same", "same"), 0);
    }

    #[test]
    fn suggests_only_plausible_typos() {
        assert_eq!(
            closest("replica", ["replicas", "selector"]),
            Some("replicas")
        );
        assert_eq!(closest("Replicas", ["replicas"]), Some("replicas"));
        assert_eq!(closest("zzzzzz", ["replicas", "selector"]), None);
        assert_eq!(closest(&"x".repeat(10_000_000), ["replicas"]), None);
    }
}
