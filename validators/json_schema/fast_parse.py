"""A fast parse for the common case: orjson, when it provably yields the document the
careful parser (validator._parse) would, and none of its hostile-input rules apply;
otherwise (None, False) and the caller runs the careful parser, so every refusal keeps
its exact finding, line and column.

- orjson itself refuses NaN/Infinity, 1e400, lone surrogates, invalid UTF-8, trailing
  garbage and nesting over 1024: any refusal goes to the careful parser.
- orjson silently turns integers outside [-2**63, 2**64) into floats, and the careful
  parser refuses digit runs over 4,300: any run of 19 or more digits (even inside a
  string) goes to the careful parser.
- orjson keeps the last of duplicate keys. Every key written is followed by `:` (and by
  `"` [whitespace] `:`), so each count is at least the number of keys written, which is
  at least the number orjson kept: equality proves there was no duplicate. A colon inside
  a string only over-counts (the regex count, then the careful parser).
- The careful parser refuses nesting over 500; orjson allows 1024: measured on the value.
"""

from __future__ import annotations

import gc
import re
from typing import Any

import orjson

MAX_DEPTH = 500
BOM = b"\xef\xbb\xbf"
_DIGITS_TO_ZERO = bytes.maketrans(b"123456789", b"000000000")
_RUN = b"0" * 19
_KEY_ENDS = re.compile(rb'"[ \t\n\r]*:')


def _keys_and_depth(value: Any) -> tuple[int, int]:
    keys, deepest, stack = 0, 0, [(value, 1)]
    pop, push = stack.pop, stack.append
    while stack:
        node, depth = pop()
        if depth > deepest:
            deepest = depth
        if type(node) is dict:
            keys += len(node)
            node = node.values()
        for child in node:
            kind = type(child)
            if kind is dict or kind is list:
                push((child, depth + 1))
    return keys, deepest


def parse(data: bytes) -> tuple[Any, bool]:
    """(document, True) from orjson, or (None, False): use the careful parser."""
    body = data[3:] if data.startswith(BOM) else data
    # Half of a large parse is the cyclic collector scanning the new objects, which
    # cannot hold cycles: it waits until the document is built.
    gc.disable()
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None, False
    finally:
        gc.enable()
    if _RUN in body.translate(_DIGITS_TO_ZERO):
        return None, False
    if type(value) is not dict and type(value) is not list:
        return value, True
    keys, depth = _keys_and_depth(value)
    if depth > MAX_DEPTH:
        return None, False
    # Both counts are upper bounds of the keys written (every key is followed by `:`);
    # the cheap one is exact unless a string holds a colon (times, URLs), then the regex.
    if body.count(b":") != keys and len(_KEY_ENDS.findall(body)) != keys:
        return None, False
    return value, True
