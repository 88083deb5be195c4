"""Voice messages: decoding what a phone recorded, disguising the voice, re-encoding it.

A recording identifies its speaker twice: by the voice itself, which colleagues know, and by
the container's tags (the phone's model, the recorder app, the time and sometimes the place it
was recorded). Everything here works on ``bytes`` in memory, in a worker process of
:mod:`whistle.sandbox` under its memory and CPU limits, like metadata removal.

* The container is recognised from its first bytes, never from the name or the type the
  browser sent, and opened only with the matching demuxer (no probing: FFmpeg's playlist and
  concatenation demuxers would try to open other files or addresses).
* The first audio stream is decoded (PyAV) and resampled to mono; the declared and the decoded
  duration are both bounded (``max_seconds``), so a tiny file that expands to hours is refused.
* With disguise on (the default) the voice goes through the WORLD vocoder (``pyworld``) in
  segments of :data:`SEGMENT_SECONDS`: the fundamental frequency is scaled by
  :data:`PITCH_SEMITONES` (up for a low voice, down for a high one, decided once from the
  first voiced segment) and the spectral envelope, which carries the formants, is warped by a
  different ratio (:data:`FORMANT_RATIO`), so that the voice is neither the speaker's shifted
  nor a simple "chipmunk" that one opposite shift would undo. Segments overlap and are
  cross-faded.
* The result is encoded afresh to Ogg/Opus; no tag of the original is copied, so the stored
  file says nothing about the device. The reporter may keep their own voice: it is re-encoded
  just the same.

What it does *not* hide (word choice, dialect, background sounds, a name said aloud) is in
docs/threat-model.md.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from io import BytesIO

import av
import numpy as np
import numpy.typing as npt
import pyworld  # type: ignore[import-untyped]

# Rate of the disguised signal: speech keeps its intelligibility at 16 kHz (Opus "wideband")
# and the vocoder's cost grows with the rate.
DISGUISE_RATE = 16_000
# Rate of a kept voice: Opus's own.
OWN_RATE = 48_000
BIT_RATE = 32_000
SEGMENT_SECONDS = 20.0
OVERLAP_SECONDS = 0.1
FRAME_PERIOD_MS = 10.0
# Cost cuts that keep the disguise (bench/scenarios/voice.py): DIO tracks the pitch on a signal
# decimated by this factor, and the aperiodicity, which changes slowly, is analysed on every
# second frame only (it was half of all the CPU).
DIO_SPEED = 4
APERIODICITY_STEP = 2
PITCH_SEMITONES = 5.0
FORMANT_RATIO = 1.12  # formants up 12 % with the pitch up (down by the same ratio with it down)
LOW_VOICE_HZ = 165.0  # a median F0 below this is raised, above it lowered
F0_FLOOR, F0_CEIL = 60.0, 500.0
# Encoders pad a recording by a few milliseconds: a message of exactly the longest duration
# allowed must not be refused for that.
GRACE_SECONDS = 1.0

# Container → FFmpeg demuxer. Detected from the first bytes (see detect).
FORMATS = {"mp4": "mp4", "matroska": "matroska", "ogg": "ogg", "mp3": "mp3", "wav": "wav",
           "amr": "amr"}  # fmt: skip

Samples = npt.NDArray[np.float32]


class BadAudio(ValueError):
    """Not audio we can read, too long, or too big: nothing of it is kept."""


@dataclass(frozen=True)
class Transcoded:
    data: bytes  # Ogg/Opus
    seconds: float
    disguised: bool
    removed: tuple[str, ...]  # names of the container's and stream's tags (never values)


def detect(head: bytes) -> str | None:
    """The container from its magic bytes, or None."""
    if head[4:8] == b"ftyp":
        return "mp4"  # M4A, 3GP, MP4, MOV: FFmpeg's mov demuxer reads them all
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "matroska"  # WebM
    if head.startswith(b"OggS"):
        return "ogg"
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "wav"
    if head.startswith(b"#!AMR"):
        return "amr"
    if head.startswith(b"ID3") or (len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0):
        return "mp3"
    return None


def transcode(data: bytes, *, disguise: bool, max_seconds: float) -> Transcoded:
    """The recording as Ogg/Opus, disguised if asked. Raises :class:`BadAudio`."""
    container_kind = detect(data[:16])
    if container_kind is None:
        raise BadAudio("unknown container")
    rate = DISGUISE_RATE if disguise else OWN_RATE
    limit = max_seconds + GRACE_SECONDS
    try:
        with av.open(BytesIO(data), mode="r", format=FORMATS[container_kind]) as source:
            stream = source.streams.audio[0] if source.streams.audio else None
            if stream is None:
                raise BadAudio("no audio stream")
            if source.duration is not None and source.duration / 1e6 > limit:
                raise BadAudio("too long")
            removed = _tag_names(source)
            stream.codec_context.thread_count = 1  # no decoder threads: each reserves a stack
            pcm = _decoded(source, stream, rate=rate, max_samples=int(limit * rate))
            voiced = _Disguise(rate).run(pcm) if disguise else pcm
            out, samples = _encode(voiced, rate=rate)
    except BadAudio:
        raise
    except MemoryError:
        raise  # the worker's memory limit (whistle.sandbox): not a property of the file
    except Exception as exc:  # FFmpeg and the vocoder raise many types on hostile input
        raise BadAudio(type(exc).__name__) from None
    if samples == 0:
        raise BadAudio("no sound")
    return Transcoded(out, samples / rate, disguise, removed)


def _tag_names(source: av.container.InputContainer) -> tuple[str, ...]:
    """The names of the container's and every stream's tags (what is not copied)."""
    names = {f"Tag {key}" for key in source.metadata}
    names |= {f"Tag {key}" for s in source.streams for key in s.metadata}
    return tuple(sorted(n[:100] for n in names))[:200]


def _decoded(
    source: av.container.InputContainer,
    stream: av.audio.AudioStream,
    *,
    rate: int,
    max_samples: int,
) -> Iterator[Samples]:
    """Mono float samples at ``rate``, piece by piece; :class:`BadAudio` past ``max_samples``."""
    resampler = av.AudioResampler(format="flt", layout="mono", rate=rate)
    total = 0
    for frame in source.decode(stream):
        for out in resampler.resample(frame):
            piece = out.to_ndarray()[0]
            total += piece.shape[0]
            if total > max_samples:
                raise BadAudio("too long")
            yield piece
    for out in resampler.resample(None):
        piece = out.to_ndarray()[0]
        total += piece.shape[0]
        if total > max_samples:
            raise BadAudio("too long")
        yield piece


def _segments(pieces: Iterator[Samples], size: int) -> Iterator[Samples]:
    """The samples regrouped into segments of ``size`` (the last may be shorter)."""
    buffer: list[Samples] = []
    held = 0
    for piece in pieces:
        buffer.append(piece)
        held += piece.shape[0]
        while held >= size:
            joined = np.concatenate(buffer)
            yield joined[:size]
            rest = joined[size:]
            buffer, held = [rest], rest.shape[0]
    if held:
        yield np.concatenate(buffer)


class _Disguise:
    """WORLD analysis and resynthesis, segment by segment, with overlapping cross-fades."""

    def __init__(self, rate: int) -> None:
        self.rate = rate
        self.overlap = int(OVERLAP_SECONDS * rate)
        self.up: bool | None = None  # decided from the first voiced segment

    def run(self, pcm: Iterator[Samples]) -> Iterator[Samples]:
        size = int(SEGMENT_SECONDS * self.rate)
        fade_in = np.linspace(0.0, 1.0, self.overlap, dtype=np.float32)
        previous = np.zeros(0, dtype=np.float32)  # the last input samples, fed again
        tail = np.zeros(0, dtype=np.float32)  # their output, to be cross-faded
        for segment in _segments(pcm, size):
            fed = np.concatenate([previous, segment])
            out = self._shift(fed)
            if tail.shape[0]:
                n = tail.shape[0]
                yield tail * fade_in[::-1][:n] + out[:n] * fade_in[:n]
                out = out[n:]
            keep = min(self.overlap, out.shape[0])
            yield out[: out.shape[0] - keep]
            tail = out[out.shape[0] - keep :]
            previous = fed[fed.shape[0] - keep :]
        yield tail

    def _shift(self, x: Samples) -> Samples:
        if x.shape[0] < self.rate // 10:
            return np.zeros_like(x)  # too short to analyse: a moment of silence, no voice
        signal = x.astype(np.float64)
        f0, times = pyworld.dio(
            signal,
            self.rate,
            f0_floor=F0_FLOOR,
            f0_ceil=F0_CEIL,
            frame_period=FRAME_PERIOD_MS,
            speed=DIO_SPEED,
        )
        f0 = pyworld.stonemask(signal, f0, times, self.rate)
        envelope = pyworld.cheaptrick(signal, f0, times, self.rate, f0_floor=F0_FLOOR)
        step = APERIODICITY_STEP
        coarse = pyworld.d4c(
            signal, np.ascontiguousarray(f0[::step]), np.ascontiguousarray(times[::step]), self.rate
        )
        aperiodicity = np.ascontiguousarray(np.repeat(coarse, step, axis=0)[: f0.shape[0]])
        voiced = f0[f0 > 0]
        if self.up is None and voiced.shape[0]:
            self.up = float(np.median(voiced)) < LOW_VOICE_HZ
        up = self.up if self.up is not None else False
        ratio = FORMANT_RATIO if up else 1 / FORMANT_RATIO
        f0 = f0 * 2 ** ((PITCH_SEMITONES if up else -PITCH_SEMITONES) / 12)
        y = pyworld.synthesize(
            f0, _warp(envelope, ratio), _warp(aperiodicity, ratio), self.rate, FRAME_PERIOD_MS
        )
        shifted: Samples = np.zeros_like(x)
        n = min(x.shape[0], y.shape[0])
        shifted[:n] = np.clip(y[:n], -1.0, 1.0)
        return shifted


def _warp(spectrum: npt.NDArray[np.float64], ratio: float) -> npt.NDArray[np.float64]:
    """Each frame's spectrum stretched along frequency by ``ratio`` (formants move with it)."""
    bins = spectrum.shape[1]
    source = np.clip(np.arange(bins) / ratio, 0, bins - 1)
    low = np.floor(source).astype(np.intp)
    high = np.minimum(low + 1, bins - 1)
    weight = source - low
    warped = spectrum[:, low] * (1 - weight) + spectrum[:, high] * weight
    return np.ascontiguousarray(warped)


def _encode(pieces: Iterator[Samples], *, rate: int) -> tuple[bytes, int]:
    """Ogg/Opus of the samples, with no tags but the encoder's; and how many samples."""
    buffer = BytesIO()
    total = 0
    with av.open(buffer, mode="w", format="ogg") as target:
        stream = target.add_stream("libopus", rate=rate, layout="mono")
        stream.bit_rate = BIT_RATE
        pts = 0
        for piece in pieces:
            if not piece.shape[0]:
                continue
            frame = av.AudioFrame.from_ndarray(
                np.ascontiguousarray(piece, dtype=np.float32)[None, :], format="flt", layout="mono"
            )
            frame.sample_rate = rate
            frame.pts = pts
            pts += piece.shape[0]
            total += piece.shape[0]
            for packet in stream.encode(frame):
                target.mux(packet)
        for packet in stream.encode(None):
            target.mux(packet)
    return buffer.getvalue(), total
