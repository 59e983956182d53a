//! `encoding_tag`: a request with entity-tag lists, `If-Range`, `Range` and
//! `Accept-Encoding` drawn from small alphabets, and a scripted inner
//! response, through the real `EncodingTagLayer` (`src/encoding.rs`).
//!
//! The request the inner service sees and the response that comes out are
//! checked against the rules of that module's documentation, first as
//! properties, then against a model written here from the documentation
//! (the model gives the exact lines expected):
//!
//! - the request: each `If-None-Match` / `If-Match` line is the client's
//!   line with zero or more tags inserted (every byte kept, in order), each
//!   one `"<identity>"` (same weakness) right after a tag
//!   `"<identity>-<codings>"`, one variant per identity; nothing inserted
//!   past 64 suffixed tags, or without `Accept-Encoding`; `If-Match` left
//!   alone when the inner request has `Range`; the inserted tags are those
//!   of the coding the `200` would have, as the module predicts it;
//! - `Range` and `If-Range` are both as sent, or both removed, and removed
//!   exactly when `If-Range` is not one entity tag and `Accept-Encoding`
//!   allows a coding; every other request header is as sent;
//! - the response: an encoded `ETag` gets the coding suffix (or goes when
//!   it is not exactly one tag), a `2xx` other than `206` says
//!   `Accept-Ranges: none`, `Vary` names `accept-encoding`; an identity
//!   response is untouched; a `304` is re-tagged only to a suffixed tag the
//!   client sent in `If-None-Match`;
//! - the rewritten tag lists are at most three times the client's (plus a
//!   constant): the rewrite does bounded work.
//!
//! Input layout (missing bytes read as zero):
//!
//! | byte(s) | meaning |
//! |---|---|
//! | 0 | method: `% 3`: `GET`, `HEAD`, `PUT` |
//! | 1 | inner status: `% 5`: 200, 206, 304, 412, 404 |
//! | 2 | inner `ETag`: `% 8`: 0 and 7 none, 1 and 5 `"o"`, 2 `W/"o"`, 3 garbage, 4 two lines `"o"`, 6 ` "o" `; `o` is [`ETAG_OPAQUES`]`[(b >> 3) % 8]`, the garbage [`GARBAGE_ETAGS`]`[(b >> 3) % 8]` |
//! | 3 | inner `Content-Encoding`: [`CONTENT_ENCODINGS`]`[b % 13]` (each entry one or more lines) |
//! | 4 | inner `Vary`: [`VARIES`]`[b % 6]` |
//! | 5 | inner `Accept-Ranges`: `% 3`: none, `bytes`, `none` |
//! | 6 | number of request header lines, `% 10` |
//! | ... | each line: a name byte (`% 5`: `If-None-Match`, `If-Match`, `If-Range`, `Range`, `Accept-Encoding`), then its value (below) |
//!
//! Values of request lines:
//!
//! - `If-None-Match`, `If-Match`: a style byte (separator `% 4`: `, `,
//!   `,`, ` , `, `,, `; bit 2 leading whitespace, bit 3 trailing), a count
//!   byte: below `0xf0`, `% 8` elements of one byte each (bit 7 clear: a
//!   tag, bits 0-3 [`SUFFIXES`], bits 4-5 [`IDS`], bit 6 `W/`; bit 7 set:
//!   [`SPECIALS`]`[(b & 0x7f) % 10]`, the last of which, raw, takes a
//!   length byte `% 16` and that many bytes); from `0xf0` a long list of
//!   `40 + 20 * (b & 15)` tags `"t<i>-<coding>"` shaped by one more byte
//!   (see [`long_list`]), so that the cap of 64 suffixed tags is crossed;
//! - `If-Range`: [`IF_RANGES`]`[b % 9]`; `Range`: [`RANGES`]`[b % 3]`;
//! - `Accept-Encoding`: a count byte: below `0xf8`, `% 6` elements of one
//!   byte each ([`CODINGS`]`[(b & 0x7f) % 28]`, bit 7 `,` instead of `, `
//!   before it); from `0xf8`, `100 * (b - 0xf7)` elements cycling through
//!   [`CODINGS`] from one more byte.
//!
//! A line that is not a valid header value is left out.

use std::cell::RefCell;
use std::convert::Infallible;
use std::rc::Rc;

use futures_util::FutureExt;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use tower::{Layer, ServiceExt};
use tower_range::EncodingTagLayer;

use crate::range_header::{is_ows, trim, Reader};

/// Past this many suffixed tags (over all lines of one header) the layer
/// leaves the header as sent (`MAX_SUFFIXED_TAGS` in `src/encoding.rs`).
const MAX_SUFFIXED_TAGS: usize = 64;

/// The codings whose tag suffix the layer recognizes on requests.
const KNOWN_CODINGS: [&[u8]; 5] = [b"gzip", b"br", b"zstd", b"deflate", b"compress"];

/// Opaque parts of the inner `ETag`: identities the client may send
/// suffixed (`t1` is in every long list), an already suffixed one, the
/// empty one, one with a comma.
pub const ETAG_OPAQUES: [&str; 8] = ["a", "b", "t1", "a-gzip", "", "ab", "t0", "a,b"];

/// Inner `ETag` values that are not exactly one entity tag.
pub const GARBAGE_ETAGS: [&str; 8] = [
    "a",
    "*",
    "\"a\", \"b\"",
    "\"a",
    "\"a b\"",
    "W/ \"a\"",
    "w/\"a\"",
    "\"a\"x",
];

/// Inner `Content-Encoding` lines.
pub const CONTENT_ENCODINGS: [&[&str]; 13] = [
    &[],
    &["gzip"],
    &["br"],
    &["identity"],
    &["gzip, br"],
    &["gz ip"],
    &["x-gzip"],
    &["gzip", "zstd"],
    &["identity, gzip"],
    &["GZip"],
    &["gzip;q=1"],
    &[" , identity"],
    &["foo"],
];

/// Inner `Vary` lines.
pub const VARIES: [&[&str]; 6] = [
    &[],
    &["origin"],
    &["Accept-Encoding"],
    &["*"],
    &["origin, accept-encoding"],
    &["origin", "ACCEPT-ENCODING"],
];

/// Opaque parts of tags, before their suffix.
pub const IDS: [&str; 4] = ["a", "b", "ab", ""];

/// Tag suffixes: none, every known coding, stacks, and near misses.
pub const SUFFIXES: [&str; 16] = [
    "",
    "-gzip",
    "-br",
    "-zstd",
    "-deflate",
    "-compress",
    "-gzip+br",
    "-br+gzip",
    "-foo",
    "-GZIP",
    "-",
    "-gzip-gzip",
    "-gzip+",
    "-x-gzip",
    "-zstd+br",
    "-identity",
];

/// Elements of a tag list that are not a plain tag; the last is raw bytes.
pub const SPECIALS: [&str; 10] = [
    "*",
    "garbage",
    "",
    "\"a-gzip",
    "\"a b-gzip\"",
    "w/\"a-gzip\"",
    "W/ \"a-gzip\"",
    "\"a-gzip\"junk",
    "\"t1-gzip\"",
    "(raw)",
];

/// `If-Range` values: tags, dates, lists, garbage.
pub const IF_RANGES: [&str; 9] = [
    "\"a\"",
    "W/\"a\"",
    "\"a-gzip\"",
    "Sun, 06 Nov 1994 08:49:37 GMT",
    "garbage",
    "",
    "\"a\", \"b\"",
    " \"a-gzip\" ",
    "*",
];

/// `Range` values.
pub const RANGES: [&str; 3] = ["bytes=0-4", "bytes=10-", "garbage"];

/// `Accept-Encoding` elements.
pub const CODINGS: [&str; 28] = [
    "gzip",
    "br",
    "zstd",
    "deflate",
    "compress",
    "identity",
    "*",
    "x-gzip",
    "x-compress",
    "foo",
    "GZIP;Q=0.5",
    "gzip;q=0",
    "br;q=0.5",
    "*;q=0",
    "identity;q=0",
    "gzip;q=x",
    "zstd;q=0.8",
    "deflate;q=1.000",
    "",
    "br ; q=0.5",
    "gzip;q=0.0001",
    "gzip;q=2",
    "br;q=0.50",
    "gzip;level=1",
    "identity;q=0.5",
    "*;q=0.9",
    "compress;q=0.5",
    "deflate;q=0.",
];

// ---------------------------------------------------------------------------
// Decoding the input.

/// One decoded input.
#[derive(Clone, Debug)]
pub struct Case {
    /// The request method.
    pub method: Method,
    /// The request headers, as the client sends them.
    pub request: HeaderMap,
    /// The inner status.
    pub status: StatusCode,
    /// The inner response headers.
    pub response: HeaderMap,
}

/// A long tag list: `count` tags `"t<i>-<coding>"`, shaped by `p`: the
/// coding cycles through the first `1 + p % 4` known codings (offset by
/// `p >> 2 & 3`), bit 4 alternates `W/`, bit 5 pairs tags on one identity
/// (`t<i/2>`, so an identity has several variants), bit 6 leaves every
/// third tag unsuffixed.
fn long_list(count: usize, p: u8, separator: &str) -> String {
    let codings = ["gzip", "br", "zstd", "deflate"];
    let kinds = 1 + usize::from(p % 4);
    let offset = usize::from(p >> 2 & 3);
    let mut out = String::new();
    for i in 0..count {
        if i > 0 {
            out.push_str(separator);
        }
        if p & 0x10 != 0 && i % 2 == 1 {
            out.push_str("W/");
        }
        let id = if p & 0x20 != 0 { i / 2 } else { i };
        if p & 0x40 != 0 && i % 3 == 2 {
            out.push_str(&format!("\"t{id}\""));
        } else {
            let coding = codings[(i + offset) % kinds];
            out.push_str(&format!("\"t{id}-{coding}\""));
        }
    }
    out
}

fn tag_list(r: &mut Reader<'_>) -> Vec<u8> {
    let style = r.u8();
    let separator = [", ", ",", " , ", ",, "][usize::from(style % 4)];
    let mut out = Vec::new();
    if style & 4 != 0 {
        out.extend_from_slice(b" \t");
    }
    let count = r.u8();
    if count >= 0xf0 {
        let n = 40 + 20 * usize::from(count & 15);
        out.extend_from_slice(long_list(n, r.u8(), separator).as_bytes());
    } else {
        for i in 0..count % 8 {
            if i > 0 {
                out.extend_from_slice(separator.as_bytes());
            }
            let e = r.u8();
            if e & 0x80 == 0 {
                if e & 0x40 != 0 {
                    out.extend_from_slice(b"W/");
                }
                out.push(b'"');
                out.extend_from_slice(IDS[usize::from(e >> 4 & 3)].as_bytes());
                out.extend_from_slice(SUFFIXES[usize::from(e & 15)].as_bytes());
                out.push(b'"');
            } else {
                let special = usize::from(e & 0x7f) % SPECIALS.len();
                if special == SPECIALS.len() - 1 {
                    let n = usize::from(r.u8() % 16);
                    out.extend_from_slice(r.take(n));
                } else {
                    out.extend_from_slice(SPECIALS[special].as_bytes());
                }
            }
        }
    }
    if style & 8 != 0 {
        out.extend_from_slice(b" ");
    }
    out
}

fn accept_encoding(r: &mut Reader<'_>) -> Vec<u8> {
    let count = r.u8();
    let mut out = String::new();
    if count >= 0xf8 {
        let n = 100 * usize::from(count - 0xf7);
        let start = usize::from(r.u8());
        for i in 0..n {
            if i > 0 {
                out.push_str(", ");
            }
            out.push_str(CODINGS[(start + i) % CODINGS.len()]);
        }
    } else {
        for i in 0..count % 6 {
            let e = r.u8();
            if i > 0 {
                out.push_str(if e & 0x80 != 0 { "," } else { ", " });
            }
            out.push_str(CODINGS[usize::from(e & 0x7f) % CODINGS.len()]);
        }
    }
    out.into_bytes()
}

impl Case {
    /// Decodes an input; never fails (missing bytes are zeros).
    pub fn decode(data: &[u8]) -> Case {
        let mut r = Reader(data);
        let method = [Method::GET, Method::HEAD, Method::PUT][usize::from(r.u8() % 3)].clone();
        let status = [200, 206, 304, 412, 404][usize::from(r.u8() % 5)];
        let status = StatusCode::from_u16(status).expect("a valid status");

        let mut response = HeaderMap::new();
        let add = |map: &mut HeaderMap, name: HeaderName, value: &[u8]| {
            if let Ok(value) = HeaderValue::from_bytes(value) {
                map.append(name, value);
            }
        };
        let b = r.u8();
        let opaque = ETAG_OPAQUES[usize::from(b >> 3) % ETAG_OPAQUES.len()];
        let strong = format!("\"{opaque}\"");
        match b % 8 {
            1 | 5 => add(&mut response, header::ETAG, strong.as_bytes()),
            2 => add(
                &mut response,
                header::ETAG,
                format!("W/{strong}").as_bytes(),
            ),
            3 => {
                let garbage = GARBAGE_ETAGS[usize::from(b >> 3) % GARBAGE_ETAGS.len()];
                add(&mut response, header::ETAG, garbage.as_bytes());
            }
            4 => {
                add(&mut response, header::ETAG, strong.as_bytes());
                add(&mut response, header::ETAG, strong.as_bytes());
            }
            6 => add(
                &mut response,
                header::ETAG,
                format!(" {strong} ").as_bytes(),
            ),
            _ => {}
        }
        for line in CONTENT_ENCODINGS[usize::from(r.u8()) % CONTENT_ENCODINGS.len()] {
            add(&mut response, header::CONTENT_ENCODING, line.as_bytes());
        }
        for line in VARIES[usize::from(r.u8()) % VARIES.len()] {
            add(&mut response, header::VARY, line.as_bytes());
        }
        match r.u8() % 3 {
            1 => add(&mut response, header::ACCEPT_RANGES, b"bytes"),
            2 => add(&mut response, header::ACCEPT_RANGES, b"none"),
            _ => {}
        }

        let mut request = HeaderMap::new();
        for _ in 0..r.u8() % 10 {
            match r.u8() % 5 {
                0 => add(&mut request, header::IF_NONE_MATCH, &tag_list(&mut r)),
                1 => add(&mut request, header::IF_MATCH, &tag_list(&mut r)),
                2 => {
                    let value = IF_RANGES[usize::from(r.u8()) % IF_RANGES.len()];
                    add(&mut request, header::IF_RANGE, value.as_bytes());
                }
                3 => {
                    let value = RANGES[usize::from(r.u8()) % RANGES.len()];
                    add(&mut request, header::RANGE, value.as_bytes());
                }
                _ => add(
                    &mut request,
                    header::ACCEPT_ENCODING,
                    &accept_encoding(&mut r),
                ),
            }
        }
        Case {
            method,
            request,
            status,
            response,
        }
    }
}

// ---------------------------------------------------------------------------
// The model, from the module documentation of `src/encoding.rs`.

/// RFC 9110 `etagc`.
fn is_etagc(b: u8) -> bool {
    b == 0x21 || (0x23..=0x7e).contains(&b) || b >= 0x80
}

/// RFC 9110 `tchar`.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// One entity tag of a list line.
#[derive(Clone, Copy, Debug)]
struct Tag<'a> {
    weak: bool,
    opaque: &'a [u8],
    /// Offset just past its closing quote.
    end: usize,
}

/// `[W/]"etagc*"` at the start of `v`: (weak, opaque, length).
fn entity_tag(v: &[u8]) -> Option<(bool, &[u8], usize)> {
    let weak = v.starts_with(b"W/");
    let open = if weak { 2 } else { 0 };
    if v.get(open) != Some(&b'"') {
        return None;
    }
    let close = open + 1 + v[open + 1..].iter().position(|&b| b == b'"')?;
    let opaque = &v[open + 1..close];
    opaque
        .iter()
        .all(|&b| is_etagc(b))
        .then_some((weak, opaque, close + 1))
}

/// A value that is exactly one entity tag, OWS around it aside.
fn single_tag(v: &[u8]) -> Option<(bool, &[u8])> {
    let v = trim(v);
    let (weak, opaque, len) = entity_tag(v)?;
    (len == v.len()).then_some((weak, opaque))
}

/// The tags of an `If-Match` / `If-None-Match` line, as the layer reads
/// them: empty elements are skipped, and an element that is not a tag
/// ends the list (a tag directly followed by something other than a comma
/// still counts, and ends it: `with_identity_tags`'s documentation).
fn list_tags(line: &[u8]) -> Vec<Tag<'_>> {
    let mut tags = Vec::new();
    let mut i = 0;
    loop {
        while i < line.len() && matches!(line[i], b' ' | b'\t' | b',') {
            i += 1;
        }
        let Some((weak, opaque, len)) = entity_tag(&line[i..]) else {
            return tags;
        };
        i += len;
        tags.push(Tag {
            weak,
            opaque,
            end: i,
        });
        while i < line.len() && is_ows(line[i]) {
            i += 1;
        }
        if i < line.len() && line[i] != b',' {
            return tags;
        }
    }
}

/// `abc-gzip` → `abc`, `abc-gzip+br` → `abc`: the opaque part before the
/// last `-`, when what follows it is a `+`-list of known codings
/// (lowercase), else `None` (module docs: "Suffixes are recognized on
/// requests only for gzip, br, zstd, deflate and compress (stacked codings
/// are joined with +)").
fn identity_of(opaque: &[u8]) -> Option<&[u8]> {
    let dash = opaque.iter().rposition(|&b| b == b'-')?;
    let suffix = &opaque[dash + 1..];
    let known = !suffix.is_empty()
        && suffix
            .split(|&b| b == b'+')
            .all(|coding| KNOWN_CODINGS.contains(&coding));
    known.then_some(&opaque[..dash])
}

/// RFC 9110 §12.4.2 `weight` after the `;`: `q=` (or `Q=`) and a qvalue, in
/// thousandths; `None` when unreadable.
fn qvalue(weight: &[u8]) -> Option<u16> {
    let value = weight
        .strip_prefix(b"q=")
        .or_else(|| weight.strip_prefix(b"Q="))?;
    let (whole, fraction) = match value {
        [w] => (*w, &[][..]),
        [w, b'.', fraction @ ..] => (*w, fraction),
        _ => return None,
    };
    if fraction.len() > 3 || !fraction.iter().all(u8::is_ascii_digit) {
        return None;
    }
    match whole {
        b'0' => Some(
            fraction
                .iter()
                .zip([100, 10, 1])
                .map(|(d, scale)| u16::from(d - b'0') * scale)
                .sum(),
        ),
        b'1' if fraction.iter().all(|&d| d == b'0') => Some(1000),
        _ => None,
    }
}

/// A request's `Accept-Encoding`, read element by element.
#[derive(Debug, Default)]
struct Accept {
    /// (coding lowercase, `x-gzip` / `x-compress` folded; q-value or
    /// `None` when unreadable), in order, empty elements left out.
    elements: Vec<(Vec<u8>, Option<u16>)>,
}

impl Accept {
    fn parse(headers: &HeaderMap) -> Accept {
        let mut elements = Vec::new();
        for line in headers.get_all(header::ACCEPT_ENCODING) {
            for element in line.as_bytes().split(|&b| b == b',') {
                let (coding, weight) = match element.iter().position(|&b| b == b';') {
                    Some(i) => (trim(&element[..i]), Some(trim(&element[i + 1..]))),
                    None => (trim(element), None),
                };
                if coding.is_empty() {
                    continue;
                }
                let mut coding = coding.to_ascii_lowercase();
                if coding == b"x-gzip" {
                    coding = b"gzip".to_vec();
                } else if coding == b"x-compress" {
                    coding = b"compress".to_vec();
                }
                elements.push((coding, weight.map_or(Some(1000), qvalue)));
            }
        }
        Accept { elements }
    }

    /// "`Accept-Encoding` allows a coding when it lists one other than
    /// `identity`, or `*`, with a q-value above 0 or an unreadable one".
    fn allows_a_coding(&self) -> bool {
        self.elements
            .iter()
            .any(|(coding, q)| coding != b"identity" && *q != Some(0))
    }

    /// A coding's q-value: its first readable element, else the first
    /// readable `*`, else 0 ("its own, else that of `*`").
    fn q(&self, coding: &[u8]) -> u16 {
        let first = |name: &[u8]| {
            self.elements
                .iter()
                .find_map(|(c, q)| (c == name).then_some(*q).flatten())
        };
        first(coding).or_else(|| first(b"*")).unwrap_or(0)
    }

    /// The highest readable q-value of any element.
    fn highest(&self) -> Option<u16> {
        self.elements.iter().filter_map(|(_, q)| *q).max()
    }

    /// Of the suffixed variants of one identity (distinct opaque parts),
    /// the one the `200` would be, per the module docs: a variant counts
    /// when every coding of its suffix has a q-value above 0 (the lowest
    /// is its own); the highest wins; a tie goes to `zstd`, `br`, `gzip`,
    /// `deflate` in that order, and is no winner when a tied variant is
    /// stacked or `compress`; no winner either when any readable element
    /// has a higher q-value than the winner.
    fn choose<'a>(&self, variants: &[&'a [u8]]) -> Option<&'a [u8]> {
        let rank = |suffix: &[u8]| {
            [&b"deflate"[..], b"gzip", b"br", b"zstd"]
                .iter()
                .position(|c| *c == suffix)
        };
        let scored: Vec<(u16, Option<usize>, &'a [u8])> = variants
            .iter()
            .filter_map(|&opaque| {
                let identity = identity_of(opaque)?;
                let suffix = &opaque[identity.len() + 1..];
                let q = suffix.split(|&b| b == b'+').map(|c| self.q(c)).min()?;
                (q > 0).then_some((q, rank(suffix), opaque))
            })
            .collect();
        let top = scored.iter().map(|&(q, _, _)| q).max()?;
        if self.highest() > Some(top) {
            return None;
        }
        let tied: Vec<_> = scored.into_iter().filter(|&(q, _, _)| q == top).collect();
        if tied.len() > 1 && tied.iter().any(|&(_, rank, _)| rank.is_none()) {
            return None;
        }
        tied.into_iter()
            .max_by_key(|&(_, rank, _)| rank)
            .map(|(_, _, opaque)| opaque)
    }
}

/// (identity opaque part, the suffixed opaque part chosen for it), one per
/// identity that gets its identity tag.
type Choices = Vec<(Vec<u8>, Vec<u8>)>;

/// (identity, the suffixed opaque part chosen for it) for the lines of one
/// tag-list header, as the module docs say: nothing past
/// [`MAX_SUFFIXED_TAGS`] suffixed tags over all lines.
fn model_choices(lines: &[&[u8]], accept: &Accept) -> Choices {
    let suffixed: Vec<(&[u8], &[u8])> = lines
        .iter()
        .flat_map(|line| list_tags(line))
        .filter_map(|tag| identity_of(tag.opaque).map(|identity| (identity, tag.opaque)))
        .collect();
    if suffixed.len() > MAX_SUFFIXED_TAGS {
        return Vec::new();
    }
    let mut decided: Vec<&[u8]> = Vec::new();
    let mut chosen = Vec::new();
    for &(identity, _) in &suffixed {
        if decided.contains(&identity) {
            continue;
        }
        decided.push(identity);
        let mut variants: Vec<&[u8]> = Vec::new();
        for &(other, opaque) in &suffixed {
            if other == identity && !variants.contains(&opaque) {
                variants.push(opaque);
            }
        }
        if let Some(best) = accept.choose(&variants) {
            chosen.push((identity.to_vec(), best.to_vec()));
        }
    }
    chosen
}

/// `line` with `, [W/]"<identity>"` after each tag whose opaque part is a
/// chosen one.
fn with_identities(line: &[u8], chosen: &[(Vec<u8>, Vec<u8>)]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut copied = 0;
    for tag in list_tags(line) {
        if let Some((identity, _)) = chosen.iter().find(|(_, s)| s == tag.opaque) {
            out.extend_from_slice(&line[copied..tag.end]);
            out.extend_from_slice(&insertion(tag.weak, identity));
            copied = tag.end;
        }
    }
    out.extend_from_slice(&line[copied..]);
    out
}

/// What the layer inserts after a suffixed tag: `, "<identity>"` (or
/// `, W/"<identity>"`).
fn insertion(weak: bool, identity: &[u8]) -> Vec<u8> {
    let mut out = b", ".to_vec();
    if weak {
        out.extend_from_slice(b"W/");
    }
    out.push(b'"');
    out.extend_from_slice(identity);
    out.push(b'"');
    out
}

/// Rewrites the lines of one tag-list header of `headers` as the model
/// says; returns the choices made.
fn model_rewrite(headers: &mut HeaderMap, name: &HeaderName, accept: &Accept) -> Choices {
    let sent: Vec<HeaderValue> = headers.get_all(name).iter().cloned().collect();
    let lines: Vec<&[u8]> = sent.iter().map(HeaderValue::as_bytes).collect();
    let chosen = model_choices(&lines, accept);
    if chosen.is_empty() {
        return chosen;
    }
    headers.remove(name);
    for value in &sent {
        let rewritten = HeaderValue::from_bytes(&with_identities(value.as_bytes(), &chosen));
        headers.append(name.clone(), rewritten.unwrap_or_else(|_| value.clone()));
    }
    chosen
}

/// The request headers the inner service should see, and the
/// `If-None-Match` choices (identity, suffixed) a `304` is re-tagged by.
fn model_request(client: &HeaderMap) -> (HeaderMap, Choices) {
    let accept = Accept::parse(client);
    let mut inner = client.clone();
    // "If-Range with a date (or anything but one entity tag), when
    // Accept-Encoding allows a coding: Range and If-Range are removed".
    let mut if_range = client.get_all(header::IF_RANGE).iter();
    let one_tag = match (if_range.next(), if_range.next()) {
        (Some(value), None) => single_tag(value.as_bytes()).is_some(),
        _ => false,
    };
    if client.contains_key(header::IF_RANGE) && !one_tag && accept.allows_a_coding() {
        inner.remove(header::RANGE);
        inner.remove(header::IF_RANGE);
    }
    let retag = model_rewrite(&mut inner, &header::IF_NONE_MATCH, &accept);
    // "If-Match, request with Range: untouched".
    if !inner.contains_key(header::RANGE) {
        model_rewrite(&mut inner, &header::IF_MATCH, &accept);
    }
    (inner, retag)
}

/// The coding of a response as a tag suffix: `None` for identity,
/// `Some(None)` for a `Content-Encoding` that is not a list of tokens,
/// `Some(Some(suffix))` for the codings lowercased (`x-gzip` is `gzip`),
/// joined with `+`.
fn coding_suffix(headers: &HeaderMap) -> Option<Option<Vec<u8>>> {
    let mut codings: Vec<Vec<u8>> = Vec::new();
    for line in headers.get_all(header::CONTENT_ENCODING) {
        for coding in line.as_bytes().split(|&b| b == b',').map(trim) {
            let coding = coding.to_ascii_lowercase();
            if coding.is_empty() || coding == b"identity" {
                continue;
            }
            if !coding.iter().all(|&b| is_tchar(b)) {
                return Some(None);
            }
            codings.push(match &coding[..] {
                b"x-gzip" => b"gzip".to_vec(),
                b"x-compress" => b"compress".to_vec(),
                _ => coding,
            });
        }
    }
    (!codings.is_empty()).then(|| Some(codings.join(&b'+')))
}

fn names_accept_encoding(headers: &HeaderMap) -> bool {
    headers.get_all(header::VARY).iter().any(|line| {
        line.as_bytes()
            .split(|&b| b == b',')
            .map(trim)
            .any(|name| name == b"*" || name.eq_ignore_ascii_case(b"accept-encoding"))
    })
}

fn quoted(weak: bool, opaque: &[u8]) -> HeaderValue {
    let mut out = if weak {
        b"W/\"".to_vec()
    } else {
        b"\"".to_vec()
    };
    out.extend_from_slice(opaque);
    out.push(b'"');
    HeaderValue::from_bytes(&out).expect("a tag of valid bytes")
}

fn single_value<'a>(headers: &'a HeaderMap, name: &HeaderName) -> Option<&'a HeaderValue> {
    let mut values = headers.get_all(name).iter();
    match (values.next(), values.next()) {
        (Some(value), None) => Some(value),
        _ => None,
    }
}

/// The response headers out of the layer, for an inner response.
fn model_response(
    status: StatusCode,
    inner: &HeaderMap,
    retag: &[(Vec<u8>, Vec<u8>)],
) -> HeaderMap {
    let mut out = inner.clone();
    if status == StatusCode::NOT_MODIFIED {
        // "the 304 then carries "abc-<coding>" again, and Vary:
        // Accept-Encoding". Only the 304 rule applies to a 304 (the
        // coding rules are for responses with a body: see
        // `not_modified_names_the_chosen_tag_and_varies`).
        let tag = single_value(inner, &header::ETAG).and_then(|v| single_tag(v.as_bytes()));
        if let Some((weak, opaque)) = tag {
            if let Some((_, suffixed)) = retag.iter().find(|(identity, _)| identity == opaque) {
                out.insert(header::ETAG, quoted(weak, suffixed));
                if !names_accept_encoding(&out) {
                    out.append(header::VARY, HeaderValue::from_static("accept-encoding"));
                }
            }
        }
        return out;
    }
    let Some(suffix) = coding_suffix(inner) else {
        return out;
    };
    // "ETag: "abc" becomes "abc-gzip" (W/"abc" becomes W/"abc-gzip"); an
    // ETag that is not exactly one entity tag is removed"; so is any ETag
    // when Content-Encoding is not a list of tokens.
    let tag = single_value(inner, &header::ETAG).and_then(|v| single_tag(v.as_bytes()));
    match (tag, suffix) {
        (Some((weak, opaque)), Some(suffix)) => {
            let tagged = [opaque, b"-", &suffix[..]].concat();
            out.insert(header::ETAG, quoted(weak, &tagged));
        }
        _ => {
            out.remove(header::ETAG);
        }
    }
    // "a 2xx other than 206 says Accept-Ranges: none".
    if status.is_success() && status != StatusCode::PARTIAL_CONTENT {
        out.insert(header::ACCEPT_RANGES, HeaderValue::from_static("none"));
    }
    // "Vary: Accept-Encoding is added when missing".
    if !names_accept_encoding(&out) {
        out.append(header::VARY, HeaderValue::from_static("accept-encoding"));
    }
    out
}

// ---------------------------------------------------------------------------
// Running the layer.

/// What came out: the request the inner service saw (method, headers) and
/// the response.
struct Seen {
    method: Method,
    inner_request: HeaderMap,
    response: Response<()>,
}

fn exchange(case: &Case) -> Seen {
    let recorded: Rc<RefCell<Option<(Method, HeaderMap)>>> = Rc::default();
    let record = Rc::clone(&recorded);
    let (status, headers) = (case.status, case.response.clone());
    let inner = tower::service_fn(move |request: Request<()>| {
        *record.borrow_mut() = Some((request.method().clone(), request.headers().clone()));
        let mut response = Response::new(());
        *response.status_mut() = status;
        *response.headers_mut() = headers.clone();
        std::future::ready(Ok::<_, Infallible>(response))
    });
    let mut request = Request::new(());
    *request.method_mut() = case.method.clone();
    *request.headers_mut() = case.request.clone();
    let response = EncodingTagLayer::new()
        .layer(inner)
        .oneshot(request)
        .now_or_never()
        .expect("the layer over a ready service is always ready")
        .unwrap_or_else(|never: Infallible| match never {});
    let (method, inner_request) = recorded
        .borrow_mut()
        .take()
        .expect("the inner service was called");
    Seen {
        method,
        inner_request,
        response,
    }
}

// ---------------------------------------------------------------------------
// The checks.

/// The insertions that turn the client's `line` into the `inner` one:
/// (offset in the client's line, tag inserted there), each inserted right
/// after a suffixed tag of the line, `, [W/]"<identity>"` with that tag's
/// weakness and identity. `None` when `inner` is not such a line.
fn insertions<'a>(line: &'a [u8], inner: &[u8]) -> Option<Vec<(usize, Tag<'a>)>> {
    let points: Vec<Tag<'a>> = list_tags(line)
        .into_iter()
        .filter(|tag| identity_of(tag.opaque).is_some())
        .collect();
    // Depth-first over "inserted or not" at each point; `failed` remembers
    // (point, offset in `inner`) pairs that lead nowhere, so that the
    // search costs at most points × offsets.
    fn search<'a>(
        line: &[u8],
        inner: &[u8],
        points: &[Tag<'a>],
        at: usize,
        from: usize,
        offset: usize,
        failed: &mut Vec<(usize, usize)>,
    ) -> Option<Vec<(usize, Tag<'a>)>> {
        if failed.contains(&(at, offset)) {
            return None;
        }
        let end = points.get(at).map_or(line.len(), |tag| tag.end);
        let segment = &line[from..end];
        let found = (|| {
            let rest = inner.get(offset..)?.strip_prefix(segment)?;
            let Some(tag) = points.get(at) else {
                return rest.is_empty().then(Vec::new);
            };
            let offset = offset + segment.len();
            let identity = identity_of(tag.opaque).expect("a suffixed tag");
            let inserted = insertion(tag.weak, identity);
            if rest.starts_with(&inserted) {
                let after = offset + inserted.len();
                if let Some(mut found) = search(line, inner, points, at + 1, end, after, failed) {
                    found.insert(0, (end, *tag));
                    return Some(found);
                }
            }
            search(line, inner, points, at + 1, end, offset, failed)
        })();
        if found.is_none() {
            failed.push((at, offset));
        }
        found
    }
    search(line, inner, &points, 0, 0, 0, &mut Vec::new())
}

fn lines(headers: &HeaderMap, name: &HeaderName) -> Vec<Vec<u8>> {
    headers
        .get_all(name)
        .iter()
        .map(|v| v.as_bytes().to_vec())
        .collect()
}

fn show(lines: &[Vec<u8>]) -> Vec<String> {
    lines
        .iter()
        .map(|line| String::from_utf8_lossy(line).into_owned())
        .collect()
}

/// Rule 2 for one tag-list header: the inner lines are the client's with
/// identity tags inserted after suffixed tags, one variant per identity.
/// Returns whether anything was inserted.
fn check_tag_list(case: &Case, inner_request: &HeaderMap, name: &HeaderName) -> bool {
    let sent = lines(&case.request, name);
    let got = lines(inner_request, name);
    assert_eq!(
        sent.len(),
        got.len(),
        "{name}: the inner request has as many lines as the client sent\n\
         sent {:?}\ngot {:?}\n{case:?}",
        show(&sent),
        show(&got),
    );
    // identity → the suffixed opaque part it was inserted after.
    let mut variants: Vec<(&[u8], &[u8])> = Vec::new();
    let mut inserted = 0;
    for (line, inner) in sent.iter().zip(&got) {
        // Every byte of the client's line is kept, in order; what is added
        // is `, [W/]"<identity>"` right after a tag `[W/]"<identity>-<codings>"`
        // of the same weakness.
        let Some(found) = insertions(line, inner) else {
            panic!(
                "{name}: {:?} is not {:?} with identity tags inserted after \
                 suffixed tags\n{case:?}",
                String::from_utf8_lossy(inner),
                String::from_utf8_lossy(line),
            );
        };
        for (_, tag) in found {
            let identity = identity_of(tag.opaque).expect("a suffixed tag");
            // "the identity "abc" is added after the one "abc-<coding>"
            // whose coding the 200 would have": one variant per identity,
            // over all lines of the header. A client that repeats that
            // tag (`W/"a-gzip", "a-gzip"`) gets the identity after each
            // copy: harmless, and never more identity tags than copies.
            match variants.iter().find(|(seen, _)| *seen == identity) {
                Some(&(_, other)) => assert_eq!(
                    other,
                    tag.opaque,
                    "{name}: identity {:?} inserted after two variants {:?} and {:?}\n\
                     sent {:?}\ngot {:?}\n{case:?}",
                    String::from_utf8_lossy(identity),
                    String::from_utf8_lossy(other),
                    String::from_utf8_lossy(tag.opaque),
                    show(&sent),
                    show(&got),
                ),
                None => variants.push((identity, tag.opaque)),
            }
            inserted += 1;
        }
    }
    if inserted > 0 {
        // "A tag-list header with more than 64 suffixed tags (over all its
        // lines) is left as the client sent it".
        let suffixed = sent
            .iter()
            .flat_map(|line| list_tags(line))
            .filter(|tag| identity_of(tag.opaque).is_some())
            .count();
        assert!(
            suffixed <= MAX_SUFFIXED_TAGS,
            "{name}: {suffixed} suffixed tags, yet {inserted} identity tags inserted\n{case:?}"
        );
        // "without Accept-Encoding ... identity only": no identity tag.
        assert!(
            case.request.contains_key(header::ACCEPT_ENCODING),
            "{name}: identity tags inserted without Accept-Encoding\n\
             sent {:?}\ngot {:?}\n{case:?}",
            show(&sent),
            show(&got),
        );
    }
    inserted > 0
}

/// Checks one input.
pub fn check(data: &[u8]) {
    let case = Case::decode(data);
    // 1. Nothing panics (the exchange itself).
    let seen = exchange(&case);
    let inner = &seen.inner_request;

    // 2. If-None-Match and If-Match: identity tags inserted, nothing else.
    check_tag_list(&case, inner, &header::IF_NONE_MATCH);
    let if_match_rewritten = check_tag_list(&case, inner, &header::IF_MATCH);
    // "If-Match, request with Range: untouched: "abc-gzip" fails (412), as
    // a range of the gzip bytes cannot be served".
    assert!(
        !(if_match_rewritten && inner.contains_key(header::RANGE)),
        "If-Match rewritten on a request that keeps its Range\n{case:?}\ninner {inner:?}"
    );

    // 3. Range and If-Range: both as sent, or both removed, and only when
    // the client sent an If-Range ("Range and If-Range are removed").
    let range_kept = lines(inner, &header::RANGE) == lines(&case.request, &header::RANGE);
    let if_range_kept = lines(inner, &header::IF_RANGE) == lines(&case.request, &header::IF_RANGE);
    let both_removed = !inner.contains_key(header::RANGE)
        && !inner.contains_key(header::IF_RANGE)
        && case.request.contains_key(header::IF_RANGE);
    assert!(
        (range_kept && if_range_kept) || both_removed,
        "Range / If-Range neither both kept nor both removed (with an If-Range)\n\
         {case:?}\ninner {inner:?}"
    );

    // 4. Every other request header, and the method, as sent.
    assert_eq!(seen.method, case.method, "the method is the client's");
    for name in case.request.keys().chain(inner.keys()) {
        if [
            header::IF_NONE_MATCH,
            header::IF_MATCH,
            header::RANGE,
            header::IF_RANGE,
        ]
        .contains(name)
        {
            continue;
        }
        assert_eq!(
            lines(inner, name),
            lines(&case.request, name),
            "{name} is not the layer's to change\n{case:?}"
        );
    }

    // 2-3, exactly: the request the model of the module docs gives (the
    // coding the 200 would have decides which variant gets its identity).
    let (expected, retag) = model_request(&case.request);
    for name in [
        header::IF_NONE_MATCH,
        header::IF_MATCH,
        header::RANGE,
        header::IF_RANGE,
    ] {
        assert_eq!(
            show(&lines(inner, &name)),
            show(&lines(&expected, &name)),
            "{name}: the inner request (left) is not the model's (right)\n{case:?}"
        );
    }

    // 5. The response.
    let response = &seen.response;
    let out = response.headers();
    assert_eq!(
        response.status(),
        case.status,
        "the status is the inner one"
    );
    let coding = coding_suffix(&case.response);
    let inner_etag =
        single_value(&case.response, &header::ETAG).and_then(|v| single_tag(v.as_bytes()));
    if case.status == StatusCode::NOT_MODIFIED {
        // A 304's ETag is the inner one, or, re-tagged, a suffixed tag the
        // client sent in If-None-Match for the inner tag's identity ("the
        // 304 then carries "abc-<coding>" again").
        let etag = lines(out, &header::ETAG);
        if etag != lines(&case.response, &header::ETAG) {
            let (weak, opaque) = inner_etag.expect("only a single valid ETag is re-tagged");
            let sent = lines(&case.request, &header::IF_NONE_MATCH);
            let client_sent = sent.iter().flat_map(|line| list_tags(line)).any(|tag| {
                identity_of(tag.opaque) == Some(opaque)
                    && etag == [quoted(weak, tag.opaque).as_bytes().to_vec()]
            });
            assert!(
                client_sent,
                "304 re-tagged to {:?}, not a suffixed tag of {:?} the client sent\n{case:?}",
                show(&etag),
                String::from_utf8_lossy(opaque),
            );
            assert!(
                names_accept_encoding(out),
                "a re-tagged 304 varies\n{case:?}"
            );
        }
    } else {
        match &coding {
            // "Content-Encoding other than identity".
            Some(suffix) => {
                // "a 2xx other than 206 says Accept-Ranges: none".
                if case.status.is_success() && case.status != StatusCode::PARTIAL_CONTENT {
                    assert_eq!(
                        show(&lines(out, &header::ACCEPT_RANGES)),
                        ["none"],
                        "an encoded {} says Accept-Ranges: none\n{case:?}",
                        case.status,
                    );
                }
                // ""abc" becomes "abc-gzip"; an ETag that is not exactly
                // one entity tag is removed" (and any ETag when the coding
                // has no name: "no validator is safer than a wrong one").
                let expected_etag = match (inner_etag, suffix) {
                    (Some((weak, opaque)), Some(suffix)) => {
                        let tagged = [opaque, b"-", &suffix[..]].concat();
                        vec![quoted(weak, &tagged).as_bytes().to_vec()]
                    }
                    _ => Vec::new(),
                };
                assert_eq!(
                    show(&lines(out, &header::ETAG)),
                    show(&expected_etag),
                    "the ETag of an encoded response\n{case:?}"
                );
                // "Vary: Accept-Encoding is added when missing".
                assert!(
                    names_accept_encoding(out),
                    "an encoded response varies on Accept-Encoding\n{case:?}\nout {out:?}"
                );
            }
            // No coding: "untouched".
            None => assert_eq!(
                out, &case.response,
                "an identity response is untouched\n{case:?}"
            ),
        }
    }
    // 5, exactly: the headers the model gives.
    let expected = model_response(case.status, &case.response, &retag);
    assert_eq!(
        out, &expected,
        "the response headers (left) are not the model's (right)\n{case:?}"
    );

    // 6. Bounded work: the rewritten tag lists are at most three times the
    // client's, plus a constant.
    let total = |headers: &HeaderMap| -> usize {
        [header::IF_NONE_MATCH, header::IF_MATCH]
            .iter()
            .flat_map(|name| headers.get_all(name))
            .map(|value| value.len())
            .sum()
    };
    let (sent, got) = (total(&case.request), total(inner));
    assert!(
        got <= 3 * sent + 64,
        "rewritten tag lists of {got} bytes for {sent} sent\n{case:?}"
    );
}
