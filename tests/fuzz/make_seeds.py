#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets into tests/fuzz/corpus/.

The seeds are committed; this script says where each came from and makes
them again byte for byte (it is deterministic). The log seeds follow
docs/log-format.md: headers, framed messages with masked CRC-32C, the
original design's bare records, and each kind of damage recovery knows.

    python3 tests/fuzz/make_seeds.py
"""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))

# --- CRC-32C (Castagnoli, reflected 0x82f63b78), masked as LevelDB does ---
_TABLE = []
for i in range(256):
    c = i
    for _ in range(8):
        c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
    _TABLE.append(c)


def crc32c(data, crc=0):
    crc ^= 0xFFFFFFFF
    for b in data:
        crc = _TABLE[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def mask(crc):
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


# --- records (docs/log-format.md) ---
HEADER_KIND = 0x0148716D
META_KIND = 0x014D716D


def header(version=1, flags=0, log_id=0x7F0BBEFE11E888EE, seq_floor=1, created=1700000000000000):
    body = b"mq-log\0\0" + struct.pack("<IIQQQI", version, flags, log_id, seq_floor, created, 0)
    rec = struct.pack("<iI", HEADER_KIND, 48) + body
    return rec + struct.pack("<I", mask(crc32c(rec)))


def framed(seq, payload, used=0):
    meta = struct.pack("<iIQ", META_KIND, 12, seq)
    size = struct.pack("<i", len(payload))
    crc = crc32c(size + payload, crc32c(meta))
    return meta + struct.pack("<I", mask(crc)) + struct.pack("<i", used) + size + payload


SYNC_KIND = 0x0153716D


def sync_mark(durable):
    rec = struct.pack("<iIQ", SYNC_KIND, 12, durable)
    return rec + struct.pack("<I", mask(crc32c(rec)))


def bare(payload, used=0):
    return struct.pack("<ii", used, len(payload)) + payload


def flip(data, at):
    b = bytearray(data)
    b[at] ^= 0x40
    return bytes(b)


def log_seeds():
    h = header()
    m1, m2, m3 = framed(1, b"a0"), framed(2, b"b1", used=1), framed(3, b"c2-longer payload")
    three = h + m1 + m2 + m3
    original = b"".join(bare(p, 1 if p == b"b1" else 0) for p in (b"a0", b"a1", b"a2", b"b0", b"b1", b"b2"))
    keyed = h + b"".join(framed(i + 1, b"k%d:value %d" % (i % 3, i), used=i % 2) for i in range(8))
    return {
        "empty": b"",
        "header_only": h,
        "three_framed": three,
        "torn_tail_payload": three[:-5],
        "torn_tail_meta": three + framed(4, b"d3")[:13],
        "torn_tail_record_header": three + framed(4, b"d3")[:24],
        "damaged_middle_payload": h + m1 + flip(m2, 28) + m3,
        "damaged_middle_meta_size": h + m1 + m2[:4] + b"\x0d" + m2[5:] + m3,
        "two_damaged_regions_and_tail": h + m1 + flip(m2, 29) + m3 + flip(framed(4, b"dd"), 25) + framed(5, b"e")
        + framed(6, b"ff")[:10],
        "bad_used_flag": h + m1 + framed(2, b"b1", used=5) + m3,
        "seq_not_increasing": h + framed(3, b"x") + framed(2, b"y") + framed(4, b"z"),
        "header_version_2": header(version=2) + m1,
        "header_unknown_flags": header(flags=4) + m1,
        "header_bad_crc": flip(h, 20) + m1,
        "header_cut_short": h[:30],
        "header_after_start": h + m1 + h + m3,
        "original_format": original,
        "original_then_framed": original + framed(7, b"c0") + framed(8, b"c1"),
        "original_torn_tail": original + bare(b"torn payload")[:9],
        "original_bare_after_framed": original + framed(7, b"c0") + bare(b"bare"),
        "not_a_log": b"this is not a message log\n" * 3,
        "keyed_half_consumed": keyed,
        "seq_floor_high": header(seq_floor=1000) + framed(1000, b"m") + framed(1001, b"n"),
        "empty_payloads": h + framed(1, b"") + framed(2, b"", used=1) + framed(3, b""),
        # docs/log-format.md, "Sync marks": a power cut's unsynced tail (a
        # lost page, then an intact message) is cut; damage below a later
        # mark's durable offset is refused.
        "sync_mark_unsynced_hole": h + m1 + sync_mark(len(h + m1)) + framed(2, b"b1") + b"\0" * 600
        + framed(4, b"d3"),
        "sync_mark_damage_before_durable": h + m1 + flip(m2, 28) + m3 + sync_mark(len(three)) + framed(4, b"d3"),
        # Issue 17 item 7: payloads that hold framed records, in a damaged
        # message; resynchronisation must never return them.
        "phantom_message_size_damaged": h + m1 + size_plus(framed(2, b"pre:" + framed(999, b"inner")), 3)
        + framed(3, b"c") + framed(4, b"d"),
        "phantom_meta_size_damaged": h + m1 + meta_size(framed(2, b"pre:" + framed(999, b"inner")), 13)
        + framed(3, b"c") + framed(4, b"d"),
        "phantom_chain_in_payload": h + m1 + size_plus(framed(2, b"x" + framed(998, b"i") + framed(999, b"j")), 1)
        + framed(3, b"c"),
        "phantom_numbered_below_the_damaged": h + m1 + size_plus(framed(5, b"pre:" + framed(4, b"inner")), 2)
        + framed(6, b"f"),
        "phantom_in_the_last_message": h + m1 + size_plus(framed(2, b"pre:" + framed(999, b"inner")), 3),
    }


def size_plus(rec, n):
    """A framed record whose message size field is n larger (its checksum then fails)."""
    size = struct.unpack_from("<i", rec, 24)[0]
    return rec[:24] + struct.pack("<i", size + n) + rec[28:]


def meta_size(rec, size):
    """A framed record whose meta record's size field says `size`."""
    return rec[:4] + struct.pack("<I", size) + rec[8:]


def key_extractor_seeds():
    return {
        "none": b"none",
        "empty": b"",
        "first4": b"first:4\nabcdefgh",
        "first_max": b"first:4096\nshort",
        "first_zero": b"first:0\nx",
        "first_too_big": b"first:4097\nx",
        "until_colon": b"until::\nkey:value",
        "until_hex": b"until:\\x2c\nab,cd",
        "until_tab": b"until:\\t\na\tb",
        "until_nul": b"until:\\0\nab\0cd",
        "until_backslash": b"until:\\\\\na\\b",
        "until_bad_hex": b"until:\\xZZ\nx",
        "until_two_chars": b"until:ab\nx",
        "bogus": b"bogus:1\nx",
    }


def pattern_seeds():
    return {
        "any": b"any",
        "key": b"key:k1\nk1:v",
        "prefix": b"prefix:a\na0",
        "prefix_escapes": b"prefix:\\x00\\t\\n\\\\\n\0\t\n\\z",
        "key_empty": b"key:\n",
        "prefix_colon": b"prefix:a:b\na:bc",
        "bad_escape": b"prefix:\\q\nx",
        "short_hex": b"prefix:\\x4",
        "lone_backslash": b"key:ab\\",
        "no_kind": b"nokind",
        "unknown_kind": b"other:x\nx",
        "long": b"prefix:" + b"\\x41" * 40 + b"\n" + b"A" * 50,
    }


def reply(code, seq, magic=b"mqCF", version=1, reserved=b"\0\0"):
    return magic + bytes([version, code]) + reserved + struct.pack("<Q", seq)


def reply_seeds():
    return {
        "ok": reply(0, 42),
        "too_large": reply(1, 0),
        "not_admitted": reply(2, 0),
        "store_error": reply(3, 0),
        "no_channel": reply(4, 0),
        "unknown_code": reply(5, 0),
        "bad_magic": reply(0, 1, magic=b"mqCX"),
        "bad_version": reply(0, 1, version=2),
        "reserved_set": reply(0, 7, reserved=b"\x01\x02"),
        "short": reply(0, 1)[:15],
        "long": reply(0, 1) + b"\0",
        "batch_of_three": reply(0, 5) + reply(1, 0) + reply(0, 6),
        "batch_with_a_bad_one": reply(0, 5) + reply(0, 6, magic=b"mqCX"),
        # The pack offer (docs/mailbox.md, "Packed sends"): flag bit 0 and
        # log2 of the size in bytes 6 and 7; out of range is no offer.
        "pack_offer": reply(0, 9, reserved=b"\x01\x10"),
        "pack_offer_out_of_range": reply(0, 9, reserved=b"\x01\x1f"),
        "batch_with_offers": reply(0, 5, reserved=b"\x01\x06") + reply(1, 0, reserved=b"\x01\x1e"),
        # Packed datagrams, parsed by the same target (pack_format.h).
        "packed_two": packed(b"ab", b""),
        "packed_bad_length": b"mqPK" + struct.pack("<I", 9) + b"ab",
        "packed_trailing_byte": packed(b"x") + b"!",
    }


def packed(*msgs):
    return b"mqPK" + b"".join(struct.pack("<I", len(m)) + m for m in msgs)


def answers(n, *datagrams):
    out = bytes([n - 1])
    for d in datagrams:
        out += bytes([len(d)]) + d
    return out


def confirmed_replies_seeds():
    return {
        "two_ok": answers(2, reply(0, 7), reply(0, 8)),
        "junk_between": answers(3, reply(0, 1), b"junk", reply(1, 0), reply(0, 3)),
        "each_code": answers(4, reply(0, 9), reply(1, 0), reply(2, 0), reply(3, 0)),
        "fewer_answers": answers(5, reply(0, 11)),
        "more_answers": answers(1, reply(0, 5), reply(0, 6), reply(0, 7)),
        "long_datagram": answers(2, reply(0, 1) + b"x" * 60, reply(0, 2)),
        "empty_datagram": answers(2, b"", reply(0, 4)),
        "batched": answers(4, reply(0, 1) + reply(0, 2), reply(2, 0) + reply(0, 4)),
        "batch_longer_than_in_flight": answers(2, reply(0, 1) + reply(0, 2) + reply(0, 3)),
        "none": answers(3),
        "no_channel_after_one": answers(3, reply(0, 1), reply(4, 0), reply(0, 2)),
        "no_channel_in_a_batch": answers(4, reply(0, 1) + reply(4, 0) + reply(0, 2)),
    }


def write(target, seeds):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    for name, data in seeds.items():
        with open(os.path.join(d, name), "wb") as f:
            f.write(data)


def main():
    write("log_recovery", log_seeds())
    write("recovery_plan", log_seeds())
    write("key_extractor", key_extractor_seeds())
    write("pattern", pattern_seeds())
    write("reply", reply_seeds())
    write("confirmed_replies", confirmed_replies_seeds())


if __name__ == "__main__":
    main()
