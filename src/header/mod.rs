//! Pure, allocation-free parsers for the request and response headers the
//! layer reads: `Range`, entity tags and their lists, and HTTP dates.
//!
//! ```
//! use tower_range::header::{parse_range, ByteRange, EntityTag};
//!
//! let set = parse_range(b"bytes=0-99", 100).unwrap();
//! let first = set.iter().next().unwrap().resolve(50);
//! assert_eq!(first, Some(ByteRange { first: 0, last: 49 }));
//! assert!(EntityTag::parse(b"W/\"v2\"").unwrap().is_weak());
//! ```

mod date;
mod etag;
mod range;

pub use date::{if_range_matches, parse_http_date, IfRange};
pub use etag::{match_tag_list, EntityTag, TagMatch};
pub use range::{parse_range, ByteRange, RangeError, RangeSet, RangeSpec, RangeSpecs};
