//! Pure, allocation-free parsers for the request and response headers the
//! layer reads: `Range`, entity tags and their lists, and HTTP dates.

mod date;
mod etag;
mod range;

pub use date::{if_range_matches, parse_http_date, IfRange};
pub use etag::{match_tag_list, EntityTag, TagMatch};
pub use range::{parse_range, ByteRange, RangeError, RangeSet, RangeSpec, RangeSpecs};
