"""MH-Z19, PMS5003 and SDS011 decoders: the real frames of serial_frames.json, and streams of
valid frames mixed with noise, corrupt frames and arbitrary read boundaries."""

import json
import random
import struct

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from agent.inputs.serial.counters import Counters
from agent.inputs.serial.mhz19 import MHZ19
from agent.inputs.serial.pms5003 import PMS5003, SET_ACTIVE, SET_PASSIVE
from agent.inputs.serial.sds011 import QUERY, SDS011
from agent.lineprotocol.metric import Metric
from tests.serial_emulator import mhz19_frame, pms5003_frame, pms5003_reply, sds011_frame
from tests.vectors import VECTORS as VECTOR_DIR

VECTORS = json.loads((VECTOR_DIR / "serial_frames.json").read_text())
DECODERS = {"mhz19": MHZ19, "pms5003": PMS5003, "sds011": SDS011}
PMS_FIELDS = ["pm1_0_cf1", "pm2_5_cf1", "pm10_cf1", "pm1_0", "pm2_5", "pm10", "gt0_3um",
              "gt0_5um", "gt1_0um", "gt2_5um", "gt5_0um", "gt10um"]
NOT_FIELDS = {"bytes", "source", "reject"}


def frames(protocol):
    return [pytest.param(protocol, case, id=f"{protocol}-{i}")
            for i, case in enumerate(VECTORS[protocol]["frames"])]


def decode(protocol, data, chunks=None):
    counters = Counters()
    decoder = DECODERS[protocol](counters)
    decoder.reset()
    readings = []
    for piece in chunks or [data]:
        readings += decoder.feed(piece)
    return [m for _, m in readings], counters.snapshot()


@pytest.mark.parametrize(("protocol", "case"),
                         frames("mhz19") + frames("pms5003") + frames("sds011"))
def test_every_vector_frame_decodes_to_its_values_and_the_reject_is_rejected(protocol, case):
    metrics, stats = decode(protocol, bytes.fromhex(case["bytes"]))
    if "reject" in case:
        assert metrics == []
        assert stats["frames_bad_checksum"] == 1 and stats["frames_ok"] == 0
        return
    expected = {("co2" if k == "co2_ppm" else k): v for k, v in case.items()
                if k not in NOT_FIELDS}
    (metric,) = metrics
    assert metric.name == protocol
    assert metric == Metric(protocol, expected)  # same values and the same types
    kinds = {type(v) for v in metric.fields.values()}
    assert kinds == ({float} if protocol == "sds011" else {int})
    assert stats["frames_ok"] == 1 and stats["bytes_skipped"] == 0


def test_field_sets_are_exactly_the_issue_s():
    pms = VECTORS["pms5003"]["frames"][0]["bytes"]
    (metric,), _ = decode("pms5003", bytes.fromhex(pms))
    assert list(metric.fields) == PMS_FIELDS
    (metric,), _ = decode("sds011", bytes.fromhex(VECTORS["sds011"]["frames"][0]["bytes"]))
    assert list(metric.fields) == ["pm2_5", "pm10"]


def test_requests_are_the_datasheet_bytes():
    assert MHZ19.request == bytes.fromhex(VECTORS["mhz19"]["read_request"])
    assert PMS5003.request == bytes.fromhex(VECTORS["pms5003"]["passive_read_request"])
    assert bytes.fromhex(VECTORS["sds011"]["query_request"]) == QUERY
    assert bytes.fromhex("42 4d e1 00 00 01 70") == SET_PASSIVE
    assert bytes.fromhex("42 4d e1 00 01 01 71") == SET_ACTIVE


def test_emulator_frames_match_the_vectors():
    assert mhz19_frame(608)[:4] == bytes.fromhex("ff 86 02 60")
    assert pms5003_frame((0, 8, 8, 0, 8, 8, 210, 70, 45, 30, 0, 0)) == bytes.fromhex(
        VECTORS["pms5003"]["frames"][0]["bytes"])
    assert sds011_frame(432.5, 531.1, b"\x01\x01") == bytes.fromhex(
        VECTORS["sds011"]["frames"][2]["bytes"])


def test_pms5003_length_word_is_checked_before_the_body():
    good = bytes.fromhex(VECTORS["pms5003"]["frames"][0]["bytes"])
    bad_length = b"BM\x00\x40" + b"\x00" * 8  # claims 64 bytes: never waited for
    metrics, stats = decode("pms5003", bad_length + good)
    assert len(metrics) == 1 and stats["frames_bad_length"] == 1


def test_pms5003_command_replies_are_valid_frames_without_readings():
    metrics, stats = decode("pms5003", pms5003_reply(0xE1, 0))
    assert metrics == [] and stats["frames_ok"] == 1


def test_sds011_tail_and_type_bytes_are_checked():
    good = bytes.fromhex(VECTORS["sds011"]["frames"][0]["bytes"])
    metrics, stats = decode("sds011", good[:-1] + b"\x00" + good)
    assert len(metrics) == 1 and stats["frames_bad_length"] == 1
    metrics, stats = decode("sds011", b"\xaa\xc1" + good[2:] + good)
    assert len(metrics) == 1 and stats["bytes_skipped"] == 10
    reply = b"\xaa\xc5\x02\x01\x01\x00\x58\xd9" + bytes(((0x02 + 1 + 1 + 0x58 + 0xD9) & 0xFF,))
    metrics, stats = decode("sds011", reply + b"\xab")
    assert metrics == [] and stats["frames_ok"] == 1


def test_mhz19_command_echo_is_checked():
    good = bytes.fromhex(VECTORS["mhz19"]["frames"][0]["bytes"])
    metrics, stats = decode("mhz19", b"\xff\x85" + good[2:] + good)
    assert len(metrics) == 1 and stats["bytes_skipped"] == 9


# Streams: valid frames, corrupted frames and noise, cut at arbitrary read boundaries.

def valid_frame(protocol, rng):
    if protocol == "mhz19":
        co2 = rng.randrange(400, 5000)
        return mhz19_frame(co2), {"co2": co2}
    if protocol == "pms5003":
        values = [rng.randrange(0, 1000) for _ in PMS_FIELDS]
        return pms5003_frame(values), dict(zip(PMS_FIELDS, values))
    pm2_5, pm10 = rng.randrange(0, 9999) / 10, rng.randrange(0, 9999) / 10
    return sds011_frame(pm2_5, pm10), {"pm2_5": pm2_5, "pm10": pm10}


def corrupt(frame, rng):
    """The frame with its checksum broken."""
    position = {9: 8, 32: 31, 10: 8}[len(frame)]
    damaged = bytearray(frame)
    damaged[position] ^= rng.randrange(1, 256)
    return bytes(damaged)


FRAME_LENGTHS = {"mhz19": 9, "pms5003": 32, "sds011": 10}


def is_data_frame(protocol, frame):
    """A valid data frame, checked from the datasheets, not by the decoders under test."""
    if protocol == "mhz19":  # ff 86 HH LL .. .. .. .. CS; CS = -(sum of bytes 1..7)
        return frame[:2] == b"\xff\x86" and (sum(frame[1:8]) + frame[8]) & 0xFF == 0
    if protocol == "pms5003":  # 42 4d, length 28, 13 words, checksum word = sum of bytes 0..29
        return (frame[:4] == b"BM\x00\x1c"
                and sum(frame[:30]) & 0xFFFF == int.from_bytes(frame[30:32], "big"))
    # sds011: aa c0 d1..d6 CS ab; CS = sum of d1..d6
    return (frame[:2] == b"\xaa\xc0" and frame[9] == 0xAB
            and sum(frame[2:8]) & 0xFF == frame[8])


def valid_offsets(protocol, stream):
    """Where a valid data frame starts, by brute force: the judge of 'never sent'."""
    length = FRAME_LENGTHS[protocol]
    return [i for i in range(len(stream) - length + 1)
            if is_data_frame(protocol, stream[i:i + length])]


def build_stream(protocol, seed, pieces):
    rng = random.Random(seed)
    stream, sent, bad = b"", [], 0
    for _ in range(pieces):
        kind = rng.choice(("frame", "frame", "noise", "corrupt"))
        if kind == "noise":
            stream += bytes(rng.randrange(256) for _ in range(rng.randrange(1, 40)))
        elif kind == "corrupt":
            stream += corrupt(valid_frame(protocol, rng)[0], rng)
            bad += 1
        else:
            frame, fields = valid_frame(protocol, rng)
            sent.append((len(stream), fields))
            stream += frame
    return stream, sent, bad


def cut(stream, rng):
    chunks, pos = [], 0
    while pos < len(stream):
        size = rng.randrange(1, 40)
        chunks.append(stream[pos:pos + size])
        pos += size
    return chunks


@pytest.mark.parametrize("protocol", sorted(DECODERS))
@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), pieces=st.integers(1, 30))
def test_noise_corruption_and_split_reads_lose_no_frame_and_invent_none(protocol, seed, pieces):
    stream, sent, bad = build_stream(protocol, seed, pieces)
    # Noise can, very rarely, hold a valid frame by chance (then it *was* sent): skip those.
    assume(valid_offsets(protocol, stream) == [at for at, _ in sent])
    metrics, stats = decode(protocol, stream, cut(stream, random.Random(seed)))
    assert [m.fields for m in metrics] == [fields for _, fields in sent]
    assert stats["frames_bad_checksum"] >= bad
    assert stats["frames_ok"] == len(sent)


@pytest.mark.parametrize("protocol", sorted(DECODERS))
@settings(max_examples=100, deadline=None)
@given(data=st.binary(max_size=300), boundaries=st.lists(st.integers(1, 50), max_size=20))
def test_arbitrary_bytes_never_crash_and_keep_the_buffer_bounded(protocol, data, boundaries):
    counters = Counters()
    decoder = DECODERS[protocol](counters)
    pos = 0
    for size in [*boundaries, len(data)]:
        decoder.feed(data[pos:pos + size])
        pos += size
        assert len(decoder._buffer) <= 32


@pytest.mark.parametrize("protocol", sorted(DECODERS))
def test_the_judge_of_valid_frames_knows_the_frames(protocol):
    rng = random.Random(3)
    frame, _ = valid_frame(protocol, rng)
    assert is_data_frame(protocol, frame) and not is_data_frame(protocol, corrupt(frame, rng))
    for case in VECTORS[protocol]["frames"]:
        assert is_data_frame(protocol, bytes.fromhex(case["bytes"])) == ("reject" not in case)


def test_corrupt_frames_are_counted_by_reason():
    rng = random.Random(1)
    frame, _ = valid_frame("pms5003", rng)
    metrics, stats = decode("pms5003", corrupt(frame, rng) + frame)
    assert len(metrics) == 1 and stats["frames_bad_checksum"] == 1


def test_a_frame_split_at_every_position_decodes_once():
    for protocol in DECODERS:
        frame, fields = valid_frame(protocol, random.Random(7))
        for cut_at in range(1, len(frame)):
            metrics, _ = decode(protocol, frame, [frame[:cut_at], frame[cut_at:]])
            assert [m.fields for m in metrics] == [fields], (protocol, cut_at)


def test_readings_know_how_many_bytes_followed_them_in_the_chunk():
    counters = Counters()
    decoder = PMS5003(counters)
    first = pms5003_frame(range(12))
    second = pms5003_frame(range(1, 13))
    readings = decoder.feed(first + second + b"\x00\x01")
    assert [after for after, _ in readings] == [len(second) + 2, 2]
    assert struct.unpack(">H", first[2:4]) == (28,)
