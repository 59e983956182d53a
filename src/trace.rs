//! The one `debug` event per response (feature `tracing`): what the layer
//! decided and why, for "why do I get 200 instead of 206?". Without the
//! feature every type here is empty and every method compiles to nothing.

use http::{Method, StatusCode};

/// What the event needs from the request, captured in `call`: the request
/// is gone by the time the response is decided.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Request {
    #[cfg(feature = "tracing")]
    method: &'static str,
}

impl Request {
    #[inline]
    pub(crate) fn new(method: &Method) -> Self {
        #[cfg(not(feature = "tracing"))]
        let _ = method;
        Request {
            #[cfg(feature = "tracing")]
            method: method_name(method),
        }
    }
}

/// The facts of one response's event; [`emit`](Event::emit) adds the
/// decision and its reason. Carried through buffering when the decision
/// waits for the body.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Event {
    #[cfg(feature = "tracing")]
    method: &'static str,
    #[cfg(feature = "tracing")]
    status: StatusCode,
    #[cfg(feature = "tracing")]
    len: Option<u64>,
    #[cfg(feature = "tracing")]
    ranges: Option<usize>,
}

#[cfg_attr(not(feature = "tracing"), allow(unused_variables, unused_mut))]
impl Event {
    /// `status` is the inner response's, `len` the representation length
    /// when known, `ranges` the number of range specs when they are about
    /// to be resolved against the length.
    #[inline]
    pub(crate) fn new(
        request: Request,
        status: StatusCode,
        len: Option<u64>,
        ranges: Option<usize>,
    ) -> Self {
        Event {
            #[cfg(feature = "tracing")]
            method: request.method,
            #[cfg(feature = "tracing")]
            status,
            #[cfg(feature = "tracing")]
            len,
            #[cfg(feature = "tracing")]
            ranges,
        }
    }

    /// The same facts, now that buffering has told the length.
    #[inline]
    pub(crate) fn with_len(mut self, len: u64) -> Self {
        #[cfg(feature = "tracing")]
        {
            self.len = Some(len);
        }
        self
    }

    /// The same facts, now that the `Range` header has parsed into this
    /// many specs.
    #[inline]
    #[cfg(feature = "content-etag")]
    pub(crate) fn with_ranges(mut self, ranges: usize) -> Self {
        #[cfg(feature = "tracing")]
        {
            self.ranges = Some(ranges);
        }
        self
    }

    /// Emits the event at `debug`, target `tower_range`: `decision` and
    /// `reason` are the stable words the crate docs list.
    #[inline]
    pub(crate) fn emit(self, decision: &'static str, reason: &'static str) {
        #[cfg(feature = "tracing")]
        tracing::debug!(
            target: "tower_range",
            decision,
            reason,
            method = self.method,
            status = self.status.as_u16(),
            len = self.len,
            ranges = self.ranges,
            "range decision",
        );
    }
}

/// The method as a `'static` word: no allocation, no lifetime to carry.
#[cfg(feature = "tracing")]
fn method_name(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::OPTIONS => "OPTIONS",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => "extension",
    }
}
