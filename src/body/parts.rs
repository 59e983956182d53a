//! The cursor that walks the parts of a `206`: which framing comes next,
//! which bytes of the representation come next.

use bytes::Bytes;

use crate::header::ByteRange;
use crate::multipart::{self, Framing};

#[derive(Debug)]
enum Ranges {
    One(ByteRange),
    Many(Box<[ByteRange]>),
}

#[derive(Debug, Clone, Copy)]
enum Phase {
    Head,
    Data { offset: u64, left: u64 },
    Closing,
    Done,
}

/// What the body emits next.
#[derive(Debug)]
pub(crate) enum Step {
    /// Framing bytes, ready.
    Frame(Bytes),
    /// Up to `max` bytes of the representation from `offset`.
    Data { offset: u64, max: u64 },
    /// Nothing left.
    Done,
}

#[derive(Debug)]
pub(crate) struct Parts {
    ranges: Ranges,
    framing: Option<Framing>,
    index: usize,
    phase: Phase,
    remaining: u64,
}

impl Parts {
    /// One range, no framing.
    pub(crate) fn single(range: ByteRange) -> Self {
        Parts {
            ranges: Ranges::One(range),
            framing: None,
            index: 0,
            phase: Phase::Data {
                offset: range.first,
                left: range.len(),
            },
            remaining: range.len(),
        }
    }

    /// Several ranges as `multipart/byteranges`.
    pub(crate) fn multi(ranges: Vec<ByteRange>, framing: Framing) -> Self {
        let remaining =
            multipart::body_len(&ranges, framing.content_type_len(), framing.complete_len());
        Parts {
            ranges: Ranges::Many(ranges.into_boxed_slice()),
            framing: Some(framing),
            index: 0,
            phase: Phase::Head,
            remaining,
        }
    }

    /// Bytes still to emit, framing included.
    pub(crate) fn remaining(&self) -> u64 {
        self.remaining
    }

    /// `true` when the data offsets never go backwards, so a body that can
    /// only be read forward can serve them.
    pub(crate) fn is_ascending(&self) -> bool {
        match &self.ranges {
            Ranges::One(_) => true,
            Ranges::Many(ranges) => ranges.windows(2).all(|w| w[0].last < w[1].first),
        }
    }

    /// The end (exclusive) of the last byte any part needs.
    pub(crate) fn data_end(&self) -> u64 {
        match &self.ranges {
            Ranges::One(range) => range.last.saturating_add(1),
            Ranges::Many(ranges) => ranges
                .iter()
                .map(|r| r.last.saturating_add(1))
                .max()
                .unwrap_or(0),
        }
    }

    fn range(&self, index: usize) -> Option<ByteRange> {
        match &self.ranges {
            Ranges::One(range) => (index == 0).then_some(*range),
            Ranges::Many(ranges) => ranges.get(index).copied(),
        }
    }

    pub(crate) fn next_step(&mut self) -> Step {
        loop {
            match self.phase {
                Phase::Head => match (self.range(self.index), &self.framing) {
                    (Some(range), Some(framing)) => {
                        let frame = framing.part_header(range);
                        self.remaining = self.remaining.saturating_sub(frame.len() as u64);
                        self.phase = Phase::Data {
                            offset: range.first,
                            left: range.len(),
                        };
                        return Step::Frame(frame);
                    }
                    (None, Some(_)) => self.phase = Phase::Closing,
                    (_, None) => self.phase = Phase::Done,
                },
                Phase::Data { offset, left } => {
                    if left > 0 {
                        return Step::Data { offset, max: left };
                    }
                    self.index += 1;
                    self.phase = if self.framing.is_some() {
                        Phase::Head
                    } else {
                        Phase::Done
                    };
                }
                Phase::Closing => {
                    self.phase = Phase::Done;
                    if let Some(framing) = &self.framing {
                        let frame = framing.closing();
                        self.remaining = self.remaining.saturating_sub(frame.len() as u64);
                        return Step::Frame(frame);
                    }
                }
                Phase::Done => return Step::Done,
            }
        }
    }

    /// Records that `n` bytes of the current data step went out.
    pub(crate) fn consumed(&mut self, n: u64) {
        if let Phase::Data { offset, left } = &mut self.phase {
            let n = n.min(*left);
            *offset += n;
            *left -= n;
            self.remaining = self.remaining.saturating_sub(n);
        }
    }
}
