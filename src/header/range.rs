//! The `Range` request header (RFC 9110 §14.1.2 and §14.2).
//!
//! The parser works on the raw header bytes and never allocates: it validates
//! the whole `range-set` once, then hands out an iterator that walks it again.
//! Every rejection says why, so a caller can explain a `200`.

/// One `range-spec` as the client wrote it, before it meets a length.
///
/// ```
/// use tower_range::header::{parse_range, RangeSpec};
/// let set = parse_range(b"bytes=0-9,100-,-5", 10).unwrap();
/// let specs: Vec<RangeSpec> = set.iter().collect();
/// assert_eq!(specs, [
///     RangeSpec::Bounded { first: 0, last: 9 },
///     RangeSpec::From { first: 100 },
///     RangeSpec::Suffix { len: 5 },
/// ]);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RangeSpec {
    /// `first-last`: both ends given, `first <= last`.
    Bounded {
        /// Offset of the first byte.
        first: u64,
        /// Offset of the last byte, inclusive.
        last: u64,
    },
    /// `first-`: from `first` to the end.
    From {
        /// Offset of the first byte.
        first: u64,
    },
    /// `-n`: the last `n` bytes.
    Suffix {
        /// How many bytes from the end.
        len: u64,
    },
}

/// A range of bytes inside a representation, both ends inclusive, as
/// `Content-Range` writes it.
///
/// ```
/// use tower_range::header::{ByteRange, RangeSpec};
/// let range = RangeSpec::Suffix { len: 500 }.resolve(10_000).unwrap();
/// assert_eq!(range, ByteRange { first: 9_500, last: 9_999 });
/// assert_eq!(format!("bytes {}-{}/10000", range.first, range.last), "bytes 9500-9999/10000");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ByteRange {
    /// Offset of the first byte.
    pub first: u64,
    /// Offset of the last byte, inclusive.
    pub last: u64,
}

impl ByteRange {
    /// Number of bytes in the range (never zero).
    ///
    /// ```
    /// use tower_range::header::ByteRange;
    /// assert_eq!(ByteRange { first: 10, last: 19 }.len(), 10);
    /// ```
    #[allow(clippy::len_without_is_empty)] // a ByteRange holds at least one byte
    pub fn len(&self) -> u64 {
        // `last >= first` by construction; saturate instead of trusting it.
        self.last.saturating_sub(self.first).saturating_add(1)
    }
}

impl RangeSpec {
    /// Resolves the spec against a representation of `len` bytes
    /// (RFC 9110 §14.1.2): `None` when it is unsatisfiable. The last byte is
    /// clamped to `len - 1`.
    ///
    /// ```
    /// use tower_range::header::{ByteRange, RangeSpec};
    /// let spec = RangeSpec::Bounded { first: 50, last: 1000 };
    /// assert_eq!(spec.resolve(100), Some(ByteRange { first: 50, last: 99 }));
    /// assert_eq!(RangeSpec::From { first: 100 }.resolve(100), None);
    /// assert_eq!(RangeSpec::Suffix { len: 0 }.resolve(100), None);
    /// ```
    pub fn resolve(self, len: u64) -> Option<ByteRange> {
        let end = len.checked_sub(1)?;
        match self {
            RangeSpec::Bounded { first, last } if first < len => Some(ByteRange {
                first,
                last: last.min(end),
            }),
            RangeSpec::From { first } if first < len => Some(ByteRange { first, last: end }),
            RangeSpec::Suffix { len: n } if n > 0 => Some(ByteRange {
                first: len - n.min(len),
                last: end,
            }),
            _ => None,
        }
    }
}

/// Why a `Range` header was rejected. Every rejection means "ignore the
/// header and send the full representation"; none of them leads to a `416`.
///
/// ```
/// use tower_range::header::{parse_range, RangeError};
/// assert_eq!(parse_range(b"bytes=-", 100), Err(RangeError::InvalidSpec));
/// let error = parse_range(b"lines=1-2", 100).unwrap_err();
/// assert_eq!(error.to_string(), "the Range unit is not `bytes`");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RangeError {
    /// The header is not `unit=range-set` at all (e.g. `0-10`).
    Syntax,
    /// The unit is not `bytes` (e.g. `items=0-5`).
    OtherUnit,
    /// The `range-set` is malformed: `bytes=`, `bytes=5-1`, `bytes=abc`, a
    /// sign, a space inside a spec, a non-ASCII byte, ...
    InvalidSpec,
    /// More range specs than the configured cap.
    TooManyRanges,
}

impl RangeError {
    /// A short, stable word for logs and metrics: `invalid_syntax`,
    /// `other_unit`, `invalid_spec` or `too_many_ranges`. It is the
    /// `reason` the `tracing` feature reports when a `Range` is ignored for
    /// this error (see [`FullReason::as_str`](crate::plan::FullReason::as_str)).
    ///
    /// ```
    /// use tower_range::header::{parse_range, RangeError};
    ///
    /// assert_eq!(parse_range(b"0-10", 100).unwrap_err().as_str(), "invalid_syntax");
    /// assert_eq!(parse_range(b"items=0-5", 100).unwrap_err().as_str(), "other_unit");
    /// assert_eq!(parse_range(b"bytes=5-1", 100).unwrap_err().as_str(), "invalid_spec");
    /// assert_eq!(parse_range(b"bytes=0-1,3-4", 1), Err(RangeError::TooManyRanges));
    /// assert_eq!(RangeError::TooManyRanges.as_str(), "too_many_ranges");
    /// ```
    pub const fn as_str(&self) -> &'static str {
        match self {
            RangeError::Syntax => "invalid_syntax",
            RangeError::OtherUnit => "other_unit",
            RangeError::InvalidSpec => "invalid_spec",
            RangeError::TooManyRanges => "too_many_ranges",
        }
    }
}

impl std::fmt::Display for RangeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            RangeError::Syntax => "the Range header is not `unit=range-set`",
            RangeError::OtherUnit => "the Range unit is not `bytes`",
            RangeError::InvalidSpec => "the Range header has an invalid range-spec",
            RangeError::TooManyRanges => "the Range header has more range-specs than allowed",
        })
    }
}

impl std::error::Error for RangeError {}

/// A syntactically valid `bytes=` range set, made by [`parse_range`].
///
/// ```
/// use tower_range::header::parse_range;
/// // Empty elements and whitespace around commas are allowed.
/// let set = parse_range(b"bytes=0-4,, 10-14 ", 100).unwrap();
/// assert_eq!(set.len(), 2);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RangeSet<'a> {
    set: &'a [u8],
    count: usize,
}

impl<'a> RangeSet<'a> {
    /// Number of (non-empty) range specs, at least one.
    ///
    /// ```
    /// use tower_range::header::parse_range;
    /// assert_eq!(parse_range(b"bytes=0-0,5-5,-1", 100).unwrap().len(), 3);
    /// ```
    #[allow(clippy::len_without_is_empty)] // a valid set is never empty
    pub fn len(&self) -> usize {
        self.count
    }

    /// The specs, in the order of the request.
    ///
    /// ```
    /// use tower_range::header::{parse_range, RangeSpec};
    /// let set = parse_range(b"bytes=50-,0-9", 100).unwrap();
    /// let mut specs = set.iter();
    /// assert_eq!(specs.next(), Some(RangeSpec::From { first: 50 }));
    /// assert_eq!(specs.next(), Some(RangeSpec::Bounded { first: 0, last: 9 }));
    /// assert_eq!(specs.next(), None);
    /// ```
    pub fn iter(&self) -> RangeSpecs<'a> {
        RangeSpecs { rest: self.set }
    }
}

impl<'a> IntoIterator for &RangeSet<'a> {
    type Item = RangeSpec;
    type IntoIter = RangeSpecs<'a>;
    fn into_iter(self) -> RangeSpecs<'a> {
        self.iter()
    }
}

/// Iterator over the specs of a [`RangeSet`], from [`RangeSet::iter`] or
/// `&RangeSet`'s `IntoIterator`.
///
/// ```
/// use tower_range::header::parse_range;
/// let set = parse_range(b"bytes=0-9,20-29", 100).unwrap();
/// let total: u64 = (&set).into_iter().filter_map(|spec| spec.resolve(25)).map(|r| r.len()).sum();
/// assert_eq!(total, 10 + 5);
/// ```
#[derive(Clone, Debug)]
pub struct RangeSpecs<'a> {
    rest: &'a [u8],
}

impl Iterator for RangeSpecs<'_> {
    type Item = RangeSpec;

    fn next(&mut self) -> Option<RangeSpec> {
        while !self.rest.is_empty() {
            let (element, rest) = split_element(self.rest);
            self.rest = rest;
            let element = trim_ows(element);
            if element.is_empty() {
                continue;
            }
            // The set was validated when it was made; an element that does
            // not parse cannot happen, and is skipped rather than trusted.
            if let Ok(spec) = parse_spec(element) {
                return Some(spec);
            }
        }
        None
    }
}

/// Parses a `Range` header value.
///
/// The unit is matched case-insensitively; list elements may be empty and
/// may have optional whitespace around the commas; numerals of any length
/// saturate at `u64::MAX`. At most `max_ranges` specs are accepted: the scan
/// stops at the first spec past the cap, so the work is bounded by the cap
/// and the header length.
///
/// ```
/// use tower_range::header::{parse_range, RangeError, RangeSpec};
///
/// let set = parse_range(b"bytes=0-4, -10", 100).unwrap();
/// let specs: Vec<_> = set.iter().collect();
/// assert_eq!(specs, [RangeSpec::Bounded { first: 0, last: 4 }, RangeSpec::Suffix { len: 10 }]);
///
/// assert_eq!(parse_range(b"bytes=5-1", 100), Err(RangeError::InvalidSpec));
/// assert_eq!(parse_range(b"items=0-5", 100), Err(RangeError::OtherUnit));
/// ```
pub fn parse_range(value: &[u8], max_ranges: usize) -> Result<RangeSet<'_>, RangeError> {
    let value = trim_ows(value);
    let eq = value
        .iter()
        .position(|&b| b == b'=')
        .ok_or(RangeError::Syntax)?;
    let (unit, set) = (&value[..eq], &value[eq + 1..]);
    if unit.is_empty() || !unit.iter().all(|&b| is_tchar(b)) {
        return Err(RangeError::Syntax);
    }
    if !unit.eq_ignore_ascii_case(b"bytes") {
        return Err(RangeError::OtherUnit);
    }
    let mut count = 0usize;
    let mut rest = set;
    while !rest.is_empty() {
        let (element, tail) = split_element(rest);
        rest = tail;
        let element = trim_ows(element);
        if element.is_empty() {
            continue;
        }
        parse_spec(element)?;
        count += 1;
        if count > max_ranges {
            return Err(RangeError::TooManyRanges);
        }
    }
    if count == 0 {
        return Err(RangeError::InvalidSpec);
    }
    Ok(RangeSet { set, count })
}

fn split_element(input: &[u8]) -> (&[u8], &[u8]) {
    match input.iter().position(|&b| b == b',') {
        Some(i) => (&input[..i], &input[i + 1..]),
        None => (input, &[]),
    }
}

fn parse_spec(spec: &[u8]) -> Result<RangeSpec, RangeError> {
    let dash = spec
        .iter()
        .position(|&b| b == b'-')
        .ok_or(RangeError::InvalidSpec)?;
    let (first, last) = (&spec[..dash], &spec[dash + 1..]);
    match (parse_digits(first)?, parse_digits(last)?) {
        // Values saturate, so two that both reached u64::MAX are compared
        // as the numerals they were (`bytes=18446744073709551616-
        // 18446744073709551615` has `last < first`: invalid).
        (Some(a), Some(b)) if a < b || (a == b && (a < u64::MAX || numeral_le(first, last))) => {
            Ok(RangeSpec::Bounded { first: a, last: b })
        }
        (Some(first), None) => Ok(RangeSpec::From { first }),
        (None, Some(len)) => Ok(RangeSpec::Suffix { len }),
        _ => Err(RangeError::InvalidSpec),
    }
}

/// `None` for an empty numeral; saturating for a long one.
fn parse_digits(digits: &[u8]) -> Result<Option<u64>, RangeError> {
    if digits.is_empty() {
        return Ok(None);
    }
    let mut value: u64 = 0;
    for &b in digits {
        if !b.is_ascii_digit() {
            return Err(RangeError::InvalidSpec);
        }
        value = value.saturating_mul(10).saturating_add(u64::from(b - b'0'));
    }
    Ok(Some(value))
}

/// `a <= b` for two numerals of ASCII digits of any length.
fn numeral_le(a: &[u8], b: &[u8]) -> bool {
    fn significant(digits: &[u8]) -> &[u8] {
        let zeros = digits.iter().take_while(|&&d| d == b'0').count();
        &digits[zeros..]
    }
    let (a, b) = (significant(a), significant(b));
    (a.len(), a) <= (b.len(), b)
}

pub(crate) fn trim_ows(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

#[cfg(test)]
#[allow(clippy::type_complexity)] // the tables spell out their rows
mod tests {
    use super::*;
    use RangeSpec::*;

    fn specs(value: &str) -> Result<Vec<RangeSpec>, RangeError> {
        parse_range(value.as_bytes(), 100).map(|set| set.iter().collect())
    }

    #[test]
    fn valid_headers() {
        let table: &[(&str, &[RangeSpec])] = &[
            ("bytes=0-4", &[Bounded { first: 0, last: 4 }]),
            ("bytes=0-0", &[Bounded { first: 0, last: 0 }]),
            ("bytes=90-", &[From { first: 90 }]),
            ("bytes=-10", &[Suffix { len: 10 }]),
            ("bytes=-0", &[Suffix { len: 0 }]),
            ("BYTES=0-4", &[Bounded { first: 0, last: 4 }]),
            ("Bytes=0-4", &[Bounded { first: 0, last: 4 }]),
            (
                "bytes=0-4,10-14",
                &[
                    Bounded { first: 0, last: 4 },
                    Bounded {
                        first: 10,
                        last: 14,
                    },
                ],
            ),
            (
                "bytes=0-4 , 10-14",
                &[
                    Bounded { first: 0, last: 4 },
                    Bounded {
                        first: 10,
                        last: 14,
                    },
                ],
            ),
            (
                "bytes=0-4,\t10-14",
                &[
                    Bounded { first: 0, last: 4 },
                    Bounded {
                        first: 10,
                        last: 14,
                    },
                ],
            ),
            (
                "bytes=0-4,,10-14",
                &[
                    Bounded { first: 0, last: 4 },
                    Bounded {
                        first: 10,
                        last: 14,
                    },
                ],
            ),
            ("bytes=,0-4,", &[Bounded { first: 0, last: 4 }]),
            ("  bytes=0-4  ", &[Bounded { first: 0, last: 4 }]),
            ("bytes=007-008", &[Bounded { first: 7, last: 8 }]),
            (
                "bytes=99999999999999999999999-",
                &[From { first: u64::MAX }],
            ),
            (
                "bytes=0-99999999999999999999999",
                &[Bounded {
                    first: 0,
                    last: u64::MAX,
                }],
            ),
            (
                "bytes=-99999999999999999999999",
                &[Suffix { len: u64::MAX }],
            ),
            (
                "bytes=18446744073709551615-18446744073709551615",
                &[Bounded {
                    first: u64::MAX,
                    last: u64::MAX,
                }],
            ),
            // Both ends past u64::MAX, in order: kept (and unsatisfiable).
            (
                "bytes=18446744073709551616-99999999999999999999",
                &[Bounded {
                    first: u64::MAX,
                    last: u64::MAX,
                }],
            ),
            (
                "bytes=0018446744073709551616-18446744073709551616",
                &[Bounded {
                    first: u64::MAX,
                    last: u64::MAX,
                }],
            ),
            (
                "bytes=50-59,0-9",
                &[
                    Bounded {
                        first: 50,
                        last: 59,
                    },
                    Bounded { first: 0, last: 9 },
                ],
            ),
        ];
        for (value, expected) in table {
            assert_eq!(specs(value).as_deref(), Ok(*expected), "{value:?}");
        }
    }

    #[test]
    fn invalid_headers_are_typed() {
        use RangeError::*;
        let table: &[(&str, RangeError)] = &[
            ("0-10", Syntax),
            ("", Syntax),
            ("=0-1", Syntax),
            ("by tes=0-1", Syntax),
            ("bytes =0-1", Syntax),
            ("items=0-5", OtherUnit),
            ("bytesx=0-5", OtherUnit),
            ("bytes=", InvalidSpec),
            ("bytes=,", InvalidSpec),
            ("bytes= , ", InvalidSpec),
            ("bytes=-", InvalidSpec),
            ("bytes=--5", InvalidSpec),
            ("bytes=5-1", InvalidSpec),
            // `last < first` with both ends past u64::MAX, where the
            // saturated values are equal.
            (
                "bytes=18446744073709551616-18446744073709551615",
                InvalidSpec,
            ),
            (
                "bytes=99999999999999999999-18446744073709551616",
                InvalidSpec,
            ),
            (
                "bytes=0-1,100000000000000000000-99999999999999999999",
                InvalidSpec,
            ),
            ("bytes=abc", InvalidSpec),
            ("bytes=0-4,abc", InvalidSpec),
            ("bytes=+5-10", InvalidSpec),
            ("bytes=-5-10", InvalidSpec),
            ("bytes=5--10", InvalidSpec),
            ("bytes=0x10-20", InvalidSpec),
            ("bytes=0 -4", InvalidSpec),
            ("bytes=0- 4", InvalidSpec),
            ("bytes=1.5-2", InvalidSpec),
            ("bytes=0-4;x", InvalidSpec),
            ("bytes=0-4 10-14", InvalidSpec),
            ("bytes=\u{663}-4", InvalidSpec),
            ("bytes=0-4=", InvalidSpec),
        ];
        for (value, error) in table {
            assert_eq!(specs(value), Err(*error), "{value:?}");
        }
        assert_eq!(parse_range(b"bytes=0-\xff", 100), Err(InvalidSpec));
    }

    #[test]
    fn cap_counts_non_empty_specs() {
        assert!(parse_range(b"bytes=0-0,1-1,2-2", 3).is_ok());
        assert!(parse_range(b"bytes=0-0,,,1-1,,2-2,", 3).is_ok());
        assert_eq!(
            parse_range(b"bytes=0-0,1-1,2-2,3-3", 3),
            Err(RangeError::TooManyRanges)
        );
        assert_eq!(parse_range(b"bytes=0-0,1-1,2-2", 3).unwrap().len(), 3);
    }

    #[test]
    fn resolution_and_clamping() {
        let r = |first, last| Some(ByteRange { first, last });
        let table = [
            (Bounded { first: 0, last: 4 }, 100, r(0, 4)),
            (
                Bounded {
                    first: 50,
                    last: 1000,
                },
                100,
                r(50, 99),
            ),
            (
                Bounded {
                    first: 99,
                    last: 99,
                },
                100,
                r(99, 99),
            ),
            (
                Bounded {
                    first: 100,
                    last: 200,
                },
                100,
                None,
            ),
            (
                Bounded {
                    first: 0,
                    last: u64::MAX,
                },
                100,
                r(0, 99),
            ),
            (From { first: 0 }, 100, r(0, 99)),
            (From { first: 99 }, 100, r(99, 99)),
            (From { first: 100 }, 100, None),
            (From { first: u64::MAX }, 100, None),
            (Suffix { len: 10 }, 100, r(90, 99)),
            (Suffix { len: 1 }, 100, r(99, 99)),
            (Suffix { len: 1000 }, 100, r(0, 99)),
            (Suffix { len: u64::MAX }, 100, r(0, 99)),
            (Suffix { len: 0 }, 100, None),
            (From { first: 0 }, 0, None),
            (Suffix { len: 5 }, 0, None),
            (Bounded { first: 0, last: 0 }, 0, None),
            (
                Bounded {
                    first: 0,
                    last: u64::MAX,
                },
                u64::MAX,
                r(0, u64::MAX - 1),
            ),
        ];
        for (spec, len, expected) in table {
            assert_eq!(spec.resolve(len), expected, "{spec:?} of {len}");
        }
    }

    #[test]
    fn huge_headers_are_linear_and_bounded() {
        let digits = "9".repeat(64 * 1024);
        assert_eq!(
            specs(&format!("bytes={digits}-")),
            Ok(vec![From { first: u64::MAX }])
        );
        let many = "0-,".repeat(10_000);
        assert_eq!(
            parse_range(format!("bytes={many}").as_bytes(), 100),
            Err(RangeError::TooManyRanges)
        );
    }
}
