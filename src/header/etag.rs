//! Entity tags (RFC 9110 §8.8.3) and their two comparisons.

/// An entity tag borrowed from a header: `"xyzzy"` or `W/"xyzzy"`.
///
/// ```
/// use tower_range::header::EntityTag;
/// let tag = EntityTag::parse(b"\"xyzzy\"").unwrap();
/// assert!(!tag.is_weak());
/// assert_eq!(EntityTag::parse(b" \"xyzzy\" "), Some(tag)); // surrounding whitespace is fine
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EntityTag<'a> {
    weak: bool,
    /// The opaque tag, quotes excluded.
    tag: &'a [u8],
}

impl<'a> EntityTag<'a> {
    /// Parses a header value that holds exactly one entity tag.
    ///
    /// ```
    /// use tower_range::header::EntityTag;
    /// let tag = EntityTag::parse(b"W/\"v1\"").unwrap();
    /// assert!(tag.is_weak());
    /// assert!(EntityTag::parse(b"v1").is_none());
    /// ```
    pub fn parse(value: &'a [u8]) -> Option<Self> {
        match parse_one(super::range::trim_ows(value)) {
            Some((tag, [])) => Some(tag),
            _ => None,
        }
    }

    /// `true` for a weak tag (`W/"..."`).
    ///
    /// ```
    /// use tower_range::header::EntityTag;
    /// assert!(EntityTag::parse(b"W/\"1\"").unwrap().is_weak());
    /// assert!(!EntityTag::parse(b"\"1\"").unwrap().is_weak());
    /// ```
    pub fn is_weak(&self) -> bool {
        self.weak
    }

    /// Strong comparison: both strong and the same opaque tag.
    ///
    /// ```
    /// use tower_range::header::EntityTag;
    /// let strong = EntityTag::parse(b"\"v1\"").unwrap();
    /// let weak = EntityTag::parse(b"W/\"v1\"").unwrap();
    /// assert!(strong.strong_eq(&strong));
    /// assert!(!strong.strong_eq(&weak));
    /// assert!(strong.weak_eq(&weak));
    /// ```
    pub fn strong_eq(&self, other: &EntityTag<'_>) -> bool {
        !self.weak && !other.weak && self.tag == other.tag
    }

    /// Weak comparison: the same opaque tag, whatever the weakness.
    ///
    /// ```
    /// use tower_range::header::EntityTag;
    /// let a = EntityTag::parse(b"W/\"1\"").unwrap();
    /// assert!(a.weak_eq(&EntityTag::parse(b"\"1\"").unwrap()));
    /// assert!(!a.weak_eq(&EntityTag::parse(b"W/\"2\"").unwrap()));
    /// ```
    pub fn weak_eq(&self, other: &EntityTag<'_>) -> bool {
        self.tag == other.tag
    }
}

/// Parses one tag at the start of `input`, returning it and what follows.
fn parse_one(input: &[u8]) -> Option<(EntityTag<'_>, &[u8])> {
    let (weak, rest) = match input {
        [b'W', b'/', rest @ ..] => (true, rest),
        rest => (false, rest),
    };
    let rest = rest.strip_prefix(b"\"")?;
    let end = rest.iter().position(|&b| b == b'"')?;
    let tag = &rest[..end];
    // etagc = %x21 / %x23-7E / obs-text
    if !tag
        .iter()
        .all(|&b| b == 0x21 || (0x23..=0x7e).contains(&b) || b >= 0x80)
    {
        return None;
    }
    Some((EntityTag { weak, tag }, &rest[end + 1..]))
}

/// The value of `If-Match` / `If-None-Match`, gathered over all header lines.
///
/// ```
/// use tower_range::header::{match_tag_list, EntityTag, TagMatch};
/// let etag = EntityTag::parse(b"\"a\"");
/// assert_eq!(match_tag_list([&b"*"[..]], etag, false), TagMatch::Matched);
/// assert_eq!(match_tag_list([&b"\"b\""[..]], etag, false), TagMatch::NotMatched);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TagMatch {
    /// A listed tag (or `*`) matched.
    Matched,
    /// Nothing matched.
    NotMatched,
}

/// Evaluates an `If-Match` (`weak == false`, strong comparison) or
/// `If-None-Match` (`weak == true`, weak comparison) condition spread over
/// one or more header lines, against the representation's `ETag`.
///
/// `*` matches any current representation. A line that does not parse
/// matches nothing, so a garbled `If-Match` fails and a garbled
/// `If-None-Match` lets the request through.
///
/// ```
/// use tower_range::header::{match_tag_list, EntityTag, TagMatch};
/// let etag = EntityTag::parse(b"\"b\"");
/// let lines: [&[u8]; 2] = [b"\"a\", W/\"b\"", b"\"c\""];
/// assert_eq!(match_tag_list(lines, etag, true), TagMatch::Matched);
/// assert_eq!(match_tag_list(lines, etag, false), TagMatch::NotMatched);
/// ```
pub fn match_tag_list<'a, I>(lines: I, etag: Option<EntityTag<'_>>, weak: bool) -> TagMatch
where
    I: IntoIterator<Item = &'a [u8]>,
{
    for line in lines {
        let line = super::range::trim_ows(line);
        if line == b"*" {
            return TagMatch::Matched;
        }
        let Some(etag) = etag else { continue };
        let mut rest = line;
        loop {
            // Skip OWS and empty list elements.
            while let [b' ' | b'\t' | b',', tail @ ..] = rest {
                rest = tail;
            }
            if rest.is_empty() {
                break;
            }
            let Some((tag, tail)) = parse_one(rest) else {
                break; // garbage: the rest of this line matches nothing
            };
            let hit = if weak {
                tag.weak_eq(&etag)
            } else {
                tag.strong_eq(&etag)
            };
            if hit {
                return TagMatch::Matched;
            }
            rest = super::range::trim_ows(tail);
            match rest {
                [] => break,
                [b',', ..] => {}
                _ => break,
            }
        }
    }
    TagMatch::NotMatched
}

#[cfg(test)]
#[allow(clippy::type_complexity)] // the tables spell out their rows
mod tests {
    use super::*;

    #[test]
    fn parse_table() {
        let table: &[(&[u8], Option<(bool, &[u8])>)] = &[
            (b"\"abc\"", Some((false, b"abc"))),
            (b"W/\"abc\"", Some((true, b"abc"))),
            (b"\"\"", Some((false, b""))),
            (b" \"a,b\" ", Some((false, b"a,b"))),
            (b"\"a\xffb\"", Some((false, b"a\xffb"))),
            (b"abc", None),
            (b"w/\"abc\"", None),
            (b"W/abc", None),
            (b"\"abc", None),
            (b"\"abc\"x", None),
            (b"\"a\"\"b\"", None),
            (b"\"a b\"", None),
            (b"*", None),
        ];
        for (input, expected) in table {
            let got = EntityTag::parse(input).map(|t| (t.weak, t.tag));
            assert_eq!(got, *expected, "{:?}", String::from_utf8_lossy(input));
        }
    }

    #[test]
    fn comparisons() {
        let s1 = EntityTag::parse(b"\"1\"").unwrap();
        let w1 = EntityTag::parse(b"W/\"1\"").unwrap();
        let s2 = EntityTag::parse(b"\"2\"").unwrap();
        assert!(s1.strong_eq(&s1));
        assert!(!w1.strong_eq(&w1));
        assert!(!s1.strong_eq(&w1));
        assert!(!s1.strong_eq(&s2));
        assert!(s1.weak_eq(&w1));
        assert!(w1.weak_eq(&w1));
        assert!(!s1.weak_eq(&s2));
    }

    #[test]
    fn lists() {
        use TagMatch::*;
        let etag = EntityTag::parse(b"\"x\"");
        let weak_etag = EntityTag::parse(b"W/\"x\"");
        let table: &[(&[&[u8]], Option<EntityTag<'_>>, bool, TagMatch)] = &[
            (&[b"*"], None, false, Matched),
            (&[b"*"], etag, true, Matched),
            (&[b"\"x\""], None, false, NotMatched),
            (&[b"\"x\""], etag, false, Matched),
            (&[b"W/\"x\""], etag, false, NotMatched),
            (&[b"W/\"x\""], etag, true, Matched),
            (&[b"\"x\""], weak_etag, false, NotMatched),
            (&[b"\"x\""], weak_etag, true, Matched),
            (&[b"\"a\", \"b\",\"x\""], etag, false, Matched),
            (&[b"\"a\" ,, \"x\""], etag, false, Matched),
            (&[b"\"a\"", b"\"x\""], etag, false, Matched),
            (&[b"\"a,x\""], etag, false, NotMatched),
            (&[b"garbage, \"x\""], etag, true, NotMatched),
            (&[b"\"a\" \"x\""], etag, true, NotMatched),
            (&[b""], etag, true, NotMatched),
            (&[], etag, true, NotMatched),
        ];
        for (lines, tag, weak, expected) in table {
            assert_eq!(
                match_tag_list(lines.iter().copied(), *tag, *weak),
                *expected,
                "{lines:?} vs {tag:?} weak={weak}"
            );
        }
    }
}
