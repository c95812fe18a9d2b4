"""The counter-based generator every backend shares: Philox4x32-10 against Random123's
known-answer vectors, and the word layout of igkernels/backends/philox.py."""
import torch

from igkernels.backends import philox


def _words(key, c):
    t = lambda v: torch.tensor(v, dtype=torch.int64)
    return [int(w) for w in philox.philox4x32(t(key), *(t(x) for x in c))]


def test_random123_known_answers():
    assert _words(0, (0, 0, 0, 0)) == [0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8]
    assert _words(-1, (0xFFFFFFFF,) * 4) == [0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD]
    assert _words(0x299F31D0A4093822, (0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344)) == \
        [0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1]


def test_column_layout_uses_all_four_words():
    """Column c reads word c & 3 of the call on counter (c >> 2, row, stream | domain << 24, offset)."""
    key, row, stream, offset = 77, 5, 3, 9
    cols = philox.random_words(torch.tensor(key), torch.tensor(row), torch.tensor(stream),
                               philox.POSITION_DOMAIN, offset, 10)
    for c in range(10):
        want = _words(key, (c >> 2, row, stream | philox.POSITION_DOMAIN << 24, offset))[c & 3]
        assert int(cols[c]) == want
