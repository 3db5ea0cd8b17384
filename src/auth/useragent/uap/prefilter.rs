//! The prefilter of a pattern: literals that every match contains, found in its syntax tree.

use regex_syntax::hir::{Class, Hir, HirKind};

/// A literal, ASCII-lowercased.
pub(super) type Needle = Box<[u8]>;

/// Most needles in one group (a longer alternation gives no group).
const MAX_NEEDLES: usize = 1024;
/// Most groups a prefilter checks (the most selective ones).
const MAX_GROUPS: usize = 3;

/// The prefilter of `pattern`: groups of literals, every match containing one literal of
/// each group, ASCII-lowercased (a necessary condition whatever the case flag). Only literals
/// of 2 bytes or more count. No group when none can be told (the pattern always runs).
pub(super) fn prefilter(pattern: &str) -> Box<[Box<[Needle]>]> {
    let hir = regex_syntax::ParserBuilder::new()
        .unicode(false)
        .utf8(false)
        .build()
        .parse(pattern);
    let Ok(hir) = hir else {
        return Box::default();
    };
    let mut groups: Vec<Vec<Vec<u8>>> = all_of(&hir)
        .into_iter()
        .filter(|group| group.len() <= MAX_NEEDLES && group.iter().all(|n| n.len() >= 2))
        .collect();
    // Longest shortest needle first: the rarest literals reject an agent soonest.
    groups.sort_by_key(|group| {
        let shortest = group.iter().map(Vec::len).min().unwrap_or(0);
        (std::cmp::Reverse(shortest), group.len())
    });
    groups.dedup();
    groups
        .into_iter()
        .take(MAX_GROUPS)
        .map(|group| group.into_iter().map(Vec::into_boxed_slice).collect())
        .collect()
}

/// The text `hir` stands for when it is one literal up to ASCII case (`[Ss]` is "s").
fn literal(hir: &Hir) -> Option<Vec<u8>> {
    match hir.kind() {
        HirKind::Literal(literal) => Some(literal.0.to_ascii_lowercase()),
        HirKind::Class(Class::Bytes(class)) => {
            let mut bytes = class
                .ranges()
                .iter()
                .flat_map(|r| r.start()..=r.end())
                .map(|b| b.to_ascii_lowercase());
            let first = bytes.next()?;
            bytes.all(|b| b == first).then(|| vec![first])
        }
        HirKind::Capture(capture) => literal(&capture.sub),
        _ => None,
    }
}

/// Groups of literals such that every match of `hir` contains one literal of each group.
fn all_of(hir: &Hir) -> Vec<Vec<Vec<u8>>> {
    match hir.kind() {
        HirKind::Capture(capture) => all_of(&capture.sub),
        HirKind::Repetition(repetition) if repetition.min >= 1 => all_of(&repetition.sub),
        HirKind::Concat(subs) => {
            let mut groups = Vec::new();
            let mut run: Vec<u8> = Vec::new();
            for sub in subs {
                if let Some(text) = literal(sub) {
                    run.extend(text);
                    continue;
                }
                if !run.is_empty() {
                    groups.push(vec![std::mem::take(&mut run)]);
                }
                groups.extend(all_of(sub));
            }
            if !run.is_empty() {
                groups.push(vec![run]);
            }
            groups
        }
        HirKind::Alternation(subs) => {
            // One of the branches matches: its best group joins a group of the whole.
            let mut union: Vec<Vec<u8>> = Vec::new();
            for sub in subs {
                let best = all_of(sub)
                    .into_iter()
                    .filter(|group| group.iter().all(|n| n.len() >= 2))
                    .max_by_key(|group| {
                        let shortest = group.iter().map(Vec::len).min().unwrap_or(0);
                        (shortest, std::cmp::Reverse(group.len()))
                    });
                let Some(best) = best else {
                    return Vec::new();
                };
                for needle in best {
                    if !union.contains(&needle) {
                        union.push(needle);
                    }
                }
            }
            vec![union]
        }
        _ => literal(hir)
            .map(|text| vec![vec![text]])
            .unwrap_or_default(),
    }
}
