"""WeChat's voice files (AMR-NB, 8 kHz) as the 16 kHz mono 16-bit WAV that speech servers read.

PyAV's wheels carry FFmpeg's own AMR-NB and AMR-WB decoders, so no ffmpeg program is needed on the host.
"""

from __future__ import annotations

import io
import wave

RATE = 16000
# WeChat voice lasts at most 60 s; a file that decodes to far more is not a voice message.
LONGEST_SECONDS = 120


class AudioError(ValueError):
    """The file is not audio PyAV can decode (damaged, empty, or not a voice message at all)."""


def to_wav(data: bytes) -> bytes:
    """Decode a voice file (AMR, Speex, MP3...) into a 16 kHz mono 16-bit WAV file's bytes."""
    pcm = _decode(data)
    if not pcm:
        raise AudioError("no sound in the voice file")
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(RATE)
        wav.writeframes(pcm)
    return out.getvalue()


def _decode(data: bytes) -> bytes:
    """The file's sound as 16 kHz mono signed 16-bit samples."""
    # Imported here: FFmpeg's libraries load only in a process that hears voice, not in every one.
    import av
    from av.error import FFmpegError

    pcm = bytearray()
    limit = LONGEST_SECONDS * RATE * 2
    try:
        with av.open(io.BytesIO(data), mode="r") as container:
            if not container.streams.audio:
                raise AudioError("the voice file has no sound track")
            resampler = av.AudioResampler(format="s16", layout="mono", rate=RATE)
            for frame in container.decode(audio=0):
                for out in resampler.resample(frame):
                    pcm += bytes(out.planes[0])[: out.samples * 2]
                if len(pcm) > limit:
                    raise AudioError(f"the voice file lasts more than {LONGEST_SECONDS} seconds")
            for out in resampler.resample(None):
                pcm += bytes(out.planes[0])[: out.samples * 2]
    except FFmpegError as exc:
        raise AudioError(f"cannot decode the voice file: {exc}") from exc
    return bytes(pcm)
