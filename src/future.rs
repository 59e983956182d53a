use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use http::Response;
use http_body::Body;
use pin_project_lite::pin_project;

use crate::plan::{Conditions, Policy};
use crate::respond::{respond, Collect, Outcome};
use crate::trace;
use crate::{BoxError, RangeBody};

pin_project! {
    /// Response future of [`RangeService`](crate::RangeService).
    pub struct ResponseFuture<F, B> {
        #[pin]
        inner: F,
        state: State<B>,
    }
}

// The `Call` state is the one every request lives in; boxing the captured
// conditions would cost an allocation per request to shrink a rare state.
#[allow(clippy::large_enum_variant)]
enum State<B> {
    /// Waiting for the inner service.
    Call {
        conditions: Option<Conditions>,
        policy: Policy,
        /// Empty without the `tracing` feature.
        request: trace::Request,
    },
    /// Reading the start of the body: to learn its length, or to hold the
    /// bytes that out-of-order ranges need.
    Collect(Box<Collect<B>>),
    Done,
}

impl<F, B> ResponseFuture<F, B> {
    pub(crate) fn new(
        inner: F,
        conditions: Option<Conditions>,
        policy: Policy,
        request: trace::Request,
    ) -> Self {
        ResponseFuture {
            inner,
            state: State::Call {
                conditions,
                policy,
                request,
            },
        }
    }
}

impl<F, B, E> Future for ResponseFuture<F, B>
where
    F: Future<Output = Result<Response<B>, E>>,
    B: Body,
    B::Error: Into<BoxError>,
{
    type Output = Result<Response<RangeBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.state {
                State::Call {
                    conditions,
                    policy,
                    request,
                } => {
                    let response = ready!(this.inner.as_mut().poll(cx))?;
                    match respond(response, conditions.take(), *policy, *request) {
                        Outcome::Ready(response) => {
                            *this.state = State::Done;
                            return Poll::Ready(Ok(response));
                        }
                        Outcome::Collect(collect) => *this.state = State::Collect(collect),
                    }
                }
                State::Collect(_) => {
                    let State::Collect(collect) = std::mem::replace(this.state, State::Done) else {
                        continue;
                    };
                    return match collect.poll_response(cx) {
                        Ok(response) => Poll::Ready(Ok(response)),
                        Err(collect) => {
                            *this.state = State::Collect(collect);
                            Poll::Pending
                        }
                    };
                }
                State::Done => panic!("ResponseFuture polled after completion"),
            }
        }
    }
}
