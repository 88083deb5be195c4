"""Speech-like recordings made in memory, in every container a phone or a browser produces.

Shared by the tests (tests/test_voice.py, tests/test_voice_web.py, tests/e2e) and the
benchmarks (bench/scenarios/voice.py). The "voice" is a glottal-like pulse train (harmonics
falling off with their number) at a known fundamental with a 5 Hz vibrato, shaped by three
fixed formant resonances and cut into syllables, so that a pitch tracker finds its F0 and
a formant warp has something to move. Each file carries :data:`MARKER` in its tags.
"""

from __future__ import annotations

from functools import cache
from io import BytesIO

import av
import numpy as np
import numpy.typing as npt
import pyworld  # type: ignore[import-untyped]

MARKER = "MARKERvoice7731"
F0_HZ = 140.0

# container name → (FFmpeg muxer, codec, sample rate, file suffix)
CONTAINERS = {
    "m4a": ("ipod", "aac", 44_100, ".m4a"),
    "3gp": ("3gp", "libopencore_amrnb", 8_000, ".3gp"),
    "webm": ("webm", "libopus", 48_000, ".webm"),
    "ogg": ("ogg", "libopus", 48_000, ".ogg"),
    "mp3": ("mp3", "libmp3lame", 44_100, ".mp3"),
    "wav": ("wav", "pcm_s16le", 16_000, ".wav"),
}


def speech(seconds: float, rate: int, f0: float = F0_HZ) -> npt.NDArray[np.float32]:
    t = np.arange(int(seconds * rate)) / rate
    pitch = f0 * (1 + 0.03 * np.sin(2 * np.pi * 5 * t))
    phase = 2 * np.pi * np.cumsum(pitch) / rate
    signal = np.zeros_like(t)
    top = int(min(rate / 2 - 200, 4000) // f0)
    for k in range(1, top):
        # Formants near 500, 1500 and 2500 Hz: a fixed vowel-like envelope.
        freq = k * f0
        gain = sum(np.exp(-(((freq - fc) / 150) ** 2)) for fc in (500, 1500, 2500)) + 0.05
        signal += gain * np.sin(k * phase) / k
    syllables = 0.6 + 0.4 * np.sin(2 * np.pi * 3 * t)  # loud and soft, like syllables
    out = signal * syllables
    result: npt.NDArray[np.float32] = (0.5 * out / np.max(np.abs(out))).astype(np.float32)
    return result


@cache
def recording(container: str, seconds: float = 3.0, f0: float = F0_HZ) -> bytes:
    """A recording in ``container`` (a key of :data:`CONTAINERS`) with the marker in its tags."""
    return encode(container, speech(seconds, CONTAINERS[container][2], f0))


def long_recording(container: str, minutes: int) -> bytes:
    """``minutes`` of speech (one minute repeated: cheap to make), for the benchmarks."""
    minute = speech(60.0, CONTAINERS[container][2])
    return encode(container, np.tile(minute, minutes))


def encode(container: str, samples: npt.NDArray[np.float32]) -> bytes:
    muxer, codec, rate, _ = CONTAINERS[container]
    buffer = BytesIO()
    with av.open(buffer, mode="w", format=muxer) as target:
        target.metadata["title"] = MARKER
        target.metadata["comment"] = f"recorded on {MARKER}-phone"
        stream = target.add_stream(codec, rate=rate, layout="mono")
        assert isinstance(stream, av.AudioStream)  # an audio codec gives an audio stream
        stream.metadata["title"] = MARKER
        frame_format = "s16" if codec in ("pcm_s16le", "libopencore_amrnb") else "flt"
        data = (samples * 32767).astype(np.int16) if frame_format == "s16" else samples
        frame = av.AudioFrame.from_ndarray(data[None, :], format=frame_format, layout="mono")
        frame.sample_rate = rate
        frame.pts = 0
        for packet in stream.encode(frame):
            target.mux(packet)
        for packet in stream.encode(None):
            target.mux(packet)
    return buffer.getvalue()


def decode(data: bytes, rate: int = 16_000) -> tuple[npt.NDArray[np.float32], str, str]:
    """Mono samples at ``rate``, the container's format name and the codec's name."""
    pieces = []
    with av.open(BytesIO(data), mode="r") as source:
        stream = source.streams.audio[0]
        resampler = av.AudioResampler(format="flt", layout="mono", rate=rate)
        for frame in source.decode(stream):
            pieces += [f.to_ndarray()[0] for f in resampler.resample(frame)]
        pieces += [f.to_ndarray()[0] for f in resampler.resample(None)]
        return np.concatenate(pieces), source.format.name, stream.codec_context.name


def median_f0(samples: npt.NDArray[np.float32], rate: int = 16_000) -> float:
    """The median fundamental frequency of the voiced frames (WORLD's DIO + StoneMask)."""
    signal = samples.astype(np.float64)
    f0, times = pyworld.dio(signal, rate, f0_floor=50.0, f0_ceil=600.0)
    f0 = pyworld.stonemask(signal, f0, times, rate)
    voiced = f0[f0 > 0]
    return float(np.median(voiced)) if voiced.shape[0] else 0.0
