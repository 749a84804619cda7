//! The README's async example is the crate doc's example (which rustdoc compiles): the same lines.
#![allow(clippy::unwrap_used)]

/// The lines of the fenced block that follows `heading` in `text` (fence lines excluded).
fn block_after<'a>(text: &'a str, heading: &str) -> Vec<&'a str> {
    let start = text.find(heading).unwrap();
    let mut lines = text[start..].lines().skip_while(|l| !l.starts_with("```"));
    lines.next().unwrap();
    lines.take_while(|l| !l.starts_with("```")).collect()
}

#[test]
fn the_readme_example_is_the_crate_doc_example() {
    let readme = include_str!("../../README.md");
    let in_readme = block_after(readme, "### qmt-async:");
    let lib = include_str!("../src/lib.rs");
    // The crate doc's lines without their `//! ` and without rustdoc's hidden `# ` lines.
    let doc: String = lib
        .lines()
        .filter_map(|l| l.strip_prefix("//!"))
        .map(|l| l.strip_prefix(' ').unwrap_or(l))
        .collect::<Vec<_>>()
        .join("\n");
    let in_doc: Vec<&str> = block_after(&doc, "On Linux under tokio")
        .into_iter()
        .filter(|l| !l.starts_with("# ") && *l != "#")
        .collect();
    assert!(in_doc.len() > 10, "{in_doc:#?}");
    assert_eq!(in_readme, in_doc);
}
