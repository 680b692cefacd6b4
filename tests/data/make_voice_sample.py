"""Writes tests/data/voice-sample.amr: two seconds of AMR-NB, 8 kHz mono, as WeChat stores a voice message.

The sound is a rising and falling tone (no one's voice); the tests' speech server answers with whatever
transcript the test chose, so only the format matters. Made with the AMR-NB encoder (opencore-amr) in
PyAV's wheel: `uv run python tests/data/make_voice_sample.py`.
"""

from __future__ import annotations

import io
import math
from array import array
from pathlib import Path

import av

RATE, SECONDS = 8000, 2
TARGET = Path(__file__).with_name("voice-sample.amr")


def tone() -> bytes:
    """A tone gliding between 300 and 700 Hz, as signed 16-bit samples."""
    samples, phase = array("h"), 0.0
    for i in range(RATE * SECONDS):
        pitch = 500 + 200 * math.sin(2 * math.pi * i / RATE)
        phase += 2 * math.pi * pitch / RATE
        samples.append(int(6000 * math.sin(phase)))
    return samples.tobytes()


def amr(pcm: bytes) -> bytes:
    """The samples encoded as an AMR-NB file (12.2 kbit/s, the '#!AMR\\n' storage format)."""
    out = io.BytesIO()
    with av.open(out, "w", format="amr") as container:
        stream = container.add_stream("libopencore_amrnb", rate=RATE)
        stream.bit_rate = 12200
        stream.layout = "mono"
        frame = av.AudioFrame(format="s16", layout="mono", samples=len(pcm) // 2)
        frame.planes[0].update(pcm)
        frame.sample_rate = RATE
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            container.mux(packet)
    return out.getvalue()


if __name__ == "__main__":
    TARGET.write_bytes(amr(tone()))
    print(f"wrote {TARGET} ({TARGET.stat().st_size} bytes)")
