#!/usr/bin/env python3
"""Writes the seed corpus of the fuzz targets (the input layouts are
documented at the top of fuzz/src/range_header.rs, fuzz/src/service.rs and
fuzz/src/encoding_tag.rs).
Run from anywhere: python3 fuzz/seeds/generate.py"""

import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def write(target, name, data):
    os.makedirs(os.path.join(HERE, target), exist_ok=True)
    with open(os.path.join(HERE, target, name), "wb") as f:
        f.write(data)


# range_header: max_ranges, length mode, 8 length bytes, slack, merge gap,
# Content-Type length, validators, then `Range` [`\n` `If-Range`].
def rh(value, if_range=None, max_ranges=0, mode=0, length=1000, slack=0, gap=0, ct=0, validators=32):
    head = bytes([max_ranges, mode]) + struct.pack("<Q", length) + bytes([slack, gap, ct, validators])
    body = value if if_range is None else value + b"\n" + if_range
    return head + body


write("range_header", "single", rh(b"bytes=0-4", b'"v1"'))
write("range_header", "multi_if_range_date", rh(b"bytes=0-4,10-14, -5,,20-", b"Sun, 06 Nov 1994 08:49:37 GMT"))
write("range_header", "out_of_order_merge", rh(b"bytes=500-599,0-9,5-19", ct=128 + 24))
write("range_header", "saturating", rh(b"BYTES=-0, 99999999999999999999999-", mode=4))
write("range_header", "other_unit", rh(b"items=0-5", b'W/"v1"'))
write("range_header", "backwards", rh(b"bytes=5-1"))
write("range_header", "backwards_past_u64", rh(b"bytes=0-1,18446744073709551616-18446744073709551615"))
write("range_header", "too_many", rh(b"bytes=" + b",".join(b"%d-%d" % (2 * i, 2 * i) for i in range(60)), max_ranges=200))
write("range_header", "amplification", rh(b"bytes=0-0,2-2,4-4", mode=0, length=100, slack=64, gap=200))


# service: method, kind, chunk-1, length (LE u16), status, ETag, Last-Modified,
# Date, Content-Type, flags, max_ranges, buffer limit, slack, merge gap, then
# the request headers.
GET, HEAD, POST = 0, 4, 6
BUFFERED, STREAM_LEN, STREAM_NO_LEN, SEEKABLE = 0, 1, 2, 3
RANGE, IF_RANGE, IF_MATCH, IF_NONE_MATCH, IMS, IUS = range(6)


def raw(name, value):
    assert len(value) < 128
    return bytes([name, len(value)]) + value


def svc(headers, method=GET, kind=BUFFERED, chunk=16, length=1000, status=0, etag=1, lm=1, date=3,
        ct=1, flags=0, max_ranges=0, buffer_limit=None, slack=0, gap=0):
    out = bytes([method, kind, chunk - 1]) + struct.pack("<H", length)
    out += bytes([status, etag, lm, date, ct, flags, max_ranges])
    out += bytes([0]) if buffer_limit is None else bytes([200]) + struct.pack("<H", buffer_limit)
    out += bytes([slack, gap, len(headers)])
    return out + b"".join(headers)


write("service", "single", svc([raw(RANGE, b"bytes=0-99")]))
write("service", "multi_stream", svc([raw(RANGE, b"bytes=500-599,0-9,5-19")], kind=STREAM_LEN, chunk=100))
write("service", "head_seekable_if_range", svc([raw(RANGE, b"bytes=0-4,10-14"), raw(IF_RANGE, b'"v1"')], method=HEAD, kind=SEEKABLE))
write("service", "unknown_past_limit", svc([raw(RANGE, b"bytes=-50")], kind=STREAM_NO_LEN, chunk=7, length=300, buffer_limit=100))
write("service", "not_modified", svc([raw(IF_NONE_MATCH, b'"v1"'), raw(RANGE, b"bytes=0-1")]))
write("service", "precondition_failed", svc([raw(IF_MATCH, b'"v2"')], kind=STREAM_LEN))
write("service", "unsatisfiable", svc([raw(RANGE, b"bytes=2000-")]))
write("service", "post", svc([raw(RANGE, b"bytes=0-9")], method=POST, kind=STREAM_LEN))
write("service", "seekable_out_of_order", svc([raw(RANGE, b"bytes=900-999,0-9")], kind=SEEKABLE, buffer_limit=500))
# Structured values: a 3-spec Range built from the length, and an If-Range
# date equal to Last-Modified (1994) under a Date of 2015.
structured_range = bytes([RANGE, 0x80, 2, 1]) + b"".join(bytes([k]) + struct.pack("<HH", a, b) for k, a, b in [(0, 10, 20), (1, 990, 0), (2, 0, 5)])
write("service", "structured", svc([structured_range, bytes([IF_RANGE, 0x80, 3])], kind=STREAM_NO_LEN, chunk=64))


# encoding_tag: method, inner status, ETag, Content-Encoding, Vary,
# Accept-Ranges, the number of request lines, then the lines: a name byte and
# its value. Indices are into the tables of fuzz/src/encoding_tag.rs.
M_GET, M_HEAD, M_PUT = range(3)
S200, S206, S304, S412, S404 = range(5)
INM, IM, IF_RANGE_, RANGE_, AE = range(5)
ID_A, ID_B, ID_AB, ID_EMPTY = range(4)
SUF_NONE, SUF_GZIP, SUF_BR, SUF_ZSTD, SUF_DEFLATE, SUF_COMPRESS, SUF_GZIP_BR = range(7)
AE_GZIP, AE_BR, AE_ZSTD, AE_IDENTITY, AE_STAR, AE_BR_HALF = 0, 1, 2, 5, 6, 12
CE_NONE, CE_GZIP, CE_BR, CE_IDENTITY, CE_GZIP_BR, CE_GARBAGE = range(6)
SPECIAL_GARBAGE = 0x80 | 1


def etag_byte(mode, index=0):
    """mode: 0 none, 1 strong, 2 weak, 3 garbage, 4 two lines, 6 with OWS."""
    return mode | (index << 3)


def tag(ident, suffix, weak=False):
    return (ident << 4) | suffix | (0x40 if weak else 0)


def tags(name, elements, style=0):
    assert len(elements) < 8
    return bytes([name, style, len(elements)]) + bytes(elements)


def long_tags(name, twenties, shape, style=0):
    """40 + 20 * twenties tags "t<i>-<coding>", shaped as long_list says."""
    return bytes([name, style, 0xF0 | twenties, shape])


def accept(elements):
    assert len(elements) < 6
    return bytes([AE, len(elements)]) + bytes(elements)


def et(lines, method=M_GET, status=S200, etag=etag_byte(1), ce=CE_NONE, vary=0, accept_ranges=0):
    assert len(lines) < 10
    return bytes([method, status, etag, ce, vary, accept_ranges, len(lines)]) + b"".join(lines)


write("encoding_tag", "gzip_200", et([accept([AE_GZIP]), tags(INM, [tag(ID_B, SUF_GZIP)])], ce=CE_GZIP, accept_ranges=1))
write("encoding_tag", "not_modified_retag", et(
    [accept([AE_GZIP, AE_BR]), tags(INM, [tag(ID_A, SUF_GZIP), tag(ID_B, SUF_NONE)]), tags(INM, [tag(ID_A, SUF_BR, weak=True)])],
    status=S304))
write("encoding_tag", "if_range_date", et(
    [accept([AE_GZIP]), bytes([RANGE_, 1, IF_RANGE_, 3]), tags(IM, [tag(ID_A, SUF_GZIP)])],
    etag=etag_byte(2), ce=CE_GZIP_BR, vary=1))
write("encoding_tag", "if_match_with_range", et(
    [accept([AE_BR_HALF, AE_IDENTITY]), bytes([RANGE_, 0, IF_RANGE_, 0]), tags(IM, [tag(ID_A, SUF_BR, weak=True)], style=1)],
    method=M_PUT, status=S412))
write("encoding_tag", "tie_and_garbage", et(
    [accept([AE_GZIP, AE_BR]), tags(INM, [tag(ID_A, SUF_GZIP), tag(ID_A, SUF_GZIP_BR), SPECIAL_GARBAGE, tag(ID_B, SUF_ZSTD)], style=2 | 4 | 8)],
    method=M_HEAD, status=S206, etag=etag_byte(4), ce=CE_GARBAGE))
# 80 suffixed tags on one line: past the cap of 64, left as sent (no 304).
write("encoding_tag", "long_list_over_cap", et(
    [accept([AE_STAR]), long_tags(INM, 2, 0)], status=S304, etag=etag_byte(1, 2)))
# The cap exactly: If-None-Match holds 60 + 4 = 64 suffixed tags (rewritten),
# If-Match 60 (two variants, gzip and br, per identity) + 5 = 65 (as sent).
write("encoding_tag", "cap_boundary", et(
    [accept([AE_GZIP, AE_BR_HALF]), long_tags(INM, 1, 0x00),
     tags(INM, [tag(ID_A, SUF_GZIP), tag(ID_B, SUF_BR), tag(ID_AB, SUF_GZIP, weak=True), tag(ID_EMPTY, SUF_ZSTD)]),
     long_tags(IM, 1, 0x21),
     tags(IM, [tag(ID_A, SUF_GZIP), tag(ID_B, SUF_BR), tag(ID_AB, SUF_GZIP), tag(ID_EMPTY, SUF_ZSTD), tag(ID_A, SUF_BR)])],
    status=S304, etag=etag_byte(1, 2)))
# 200 Accept-Encoding elements, cycling through the table from `br`.
write("encoding_tag", "long_accept_encoding", et(
    [bytes([AE, 0xF9, AE_BR]), tags(INM, [tag(ID_AB, SUF_BR), tag(ID_EMPTY, SUF_GZIP)])], etag=etag_byte(6, 5), ce=CE_BR))
