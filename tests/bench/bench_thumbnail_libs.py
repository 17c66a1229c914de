"""Which library makes our thumbnails fastest: Pillow, libvips (pyvips + pyvips-binary) and
libjpeg-turbo (PyTurboJPEG), on JPEG and PNG of 640×480 and 4000×3000.

    .venv/bin/python tests/bench/bench_thumbnail_libs.py [--repeat 15]

Each library does the whole job the thumbnail task does, on one core: decode the bytes (with its
shrink-on-load: Pillow's draft mode for JPEG, libvips' thumbnail_buffer, libjpeg-turbo's DCT
scaling), make the longest side 256 px, encode a JPEG of quality 80. It prints the median time per
image of each and its ratio to the fastest, and writes bench-results/thumbnail_libs.json. A library
that is not installed (PyTurboJPEG needs the system's libturbojpeg) or cannot read a format shows "—".
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import time
from pathlib import Path

from PIL import Image

SIZE = 256
QUALITY = 80


def sample(fmt: str, width: int, height: int) -> bytes:
    """A photo-like image (a gradient with noise), so the codecs do real work."""
    base = Image.linear_gradient("L").resize((width, height)).convert("RGB")
    noise = Image.effect_noise((width, height), 40).convert("RGB")
    image = Image.blend(base, noise, 0.4)
    out = io.BytesIO()
    image.save(out, fmt, **({"quality": 90} if fmt == "JPEG" else {"compress_level": 6}))
    return out.getvalue()


def pillow_box_draft(data: bytes) -> bytes:
    """The console's encoder until issue 13: draft asked for a 256×256 box, which a 4:3 photo's short
    side never reaches at half scale, so a 640×480 JPEG was decoded whole."""
    with Image.open(io.BytesIO(data)) as img:
        if img.format == "JPEG":
            img.draft("RGB", (SIZE, SIZE))
        img = img.convert("RGB")
        img.thumbnail((SIZE, SIZE))
        out = io.BytesIO()
        img.save(out, "JPEG", quality=QUALITY)
        return out.getvalue()


def pillow(data: bytes) -> bytes:
    """The console's encoder (datasets.operations.thumbnails.thumbnail_encode without its checks):
    draft asked for the thumbnail's own size."""
    with Image.open(io.BytesIO(data)) as img:
        scale = min(1.0, SIZE / max(img.size))
        if img.format == "JPEG":
            img.draft("RGB", (max(1, round(img.width * scale)), max(1, round(img.height * scale))))
        img = img.convert("RGB")
        img.thumbnail((SIZE, SIZE))
        out = io.BytesIO()
        img.save(out, "JPEG", quality=QUALITY)
        return out.getvalue()


def _vips():
    import pyvips

    def vips(data: bytes) -> bytes:
        thumb = pyvips.Image.thumbnail_buffer(data, SIZE, height=SIZE, size="down")
        if thumb.bands == 4:
            thumb = thumb.flatten()
        return thumb.write_to_buffer(".jpg", Q=QUALITY, strip=True)

    return vips


def _turbo():
    from turbojpeg import TurboJPEG

    jpeg = TurboJPEG()

    def turbo(data: bytes) -> bytes:
        if data[:2] != b"\xff\xd8":
            raise ValueError("libjpeg-turbo reads only JPEG")
        width, height, _, _ = jpeg.decode_header(data)
        # The largest DCT scaling that keeps the longest side at least SIZE.
        factor = max(
            (f for f in jpeg.scaling_factors if max(width, height) * f[0] // f[1] >= SIZE),
            key=lambda f: f[0] / f[1] * -1,
            default=(1, 1),
        )
        pixels = jpeg.decode(data, scaling_factor=factor)
        img = Image.fromarray(pixels[:, :, ::-1])
        img.thumbnail((SIZE, SIZE))
        return jpeg.encode(__import__("numpy").asarray(img)[:, :, ::-1].copy(), quality=QUALITY)

    return turbo


def libraries() -> dict:
    found = {"Pillow (before)": pillow_box_draft, "Pillow": pillow}
    for name, make in (("libvips (pyvips)", _vips), ("libjpeg-turbo (PyTurboJPEG)", _turbo)):
        try:
            found[name] = make()
        except (ImportError, OSError, RuntimeError) as exc:
            print(f"{name}: not available ({exc})")
    return found


def timed(function, data: bytes, repeat: int) -> float | None:
    try:
        function(data)  # warm-up, and the check that it reads the format
    except Exception:  # noqa: BLE001 — a library that cannot read the format is reported as such
        return None
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        out = function(data)
        times.append(time.perf_counter() - start)
    with Image.open(io.BytesIO(out)) as check:
        assert max(check.size) <= SIZE and check.format == "JPEG"
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    libs = libraries()
    cases = [(fmt, w, h) for fmt in ("JPEG", "PNG") for (w, h) in ((640, 480), (4000, 3000))]
    results = []
    for fmt, width, height in cases:
        data = sample(fmt, width, height)
        row = {"case": f"{fmt} {width}×{height}", "bytes": len(data)}
        row.update({name: timed(function, data, args.repeat) for name, function in libs.items()})
        results.append(row)
        best = min(v for k, v in row.items() if k in libs and v is not None)
        cells = [
            f"{name}: {'—' if row[name] is None else f'{row[name] * 1000:.1f} ms (×{row[name] / best:.2f})'}"
            for name in libs
        ]
        print(f"{row['case']:>16} ({len(data) / 1024:.0f} KB): " + " | ".join(cells))
    Path("bench-results").mkdir(exist_ok=True)
    Path("bench-results/thumbnail_libs.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
