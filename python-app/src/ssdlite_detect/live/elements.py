"""Which GStreamer elements scale, convert, decode and encode on this SoC: decided once, as data.

NXP's nnstreamer examples keep the per-SoC difference in one function that returns a piece of
pipeline (`accelerated_videoscale`); this module is that place for the app. The rest of the live
mode asks for `VideoChain` fields and never for the SoC.

Facts (shared/VIDEO-FACTS.md, imx-gst1.0-plugin 4.8.0 at LF6.1.22_2.0.0):
- i.MX 93 has the PXP 2D engine (`imxvideoconvert_pxp`), no GPU and no video codec. PXP outputs
  BGRx, BGRA, BGR, RGB16, GRAY8, UYVY: no RGB, so it emits BGR and numpy reverses the channels
  while it builds the input tensor (a view, no extra copy).
- i.MX 8M Plus has the GC520L 2D GPU (`imxvideoconvert_g2d`) and the Hantro VPU (`vpudec`,
  `vpuenc_h264`). G2D outputs no 24-bit RGB: it emits RGBA and numpy drops the alpha byte.
- Both pad the converter's output rows to 16 pixels: frames are read with the stride GStreamer
  reports, never assumed to be width * 3.
- NXP's elements register only when their device node exists, so availability is probed at run
  time and a missing element falls back to software with one note.
- Neither hardware converter scales below 64 pixels; model inputs are 300x300 or larger.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, List, Optional, Tuple

from ..device import IMX8MP, IMX93

# Bytes per pixel and where R, G and B sit in it, for every format an appsink here may receive.
PIXEL_LAYOUTS = {
    "RGB": (3, (0, 1, 2)),
    "BGR": (3, (2, 1, 0)),
    "RGBA": (4, (0, 1, 2)),
    "RGBx": (4, (0, 1, 2)),
    "BGRA": (4, (2, 1, 0)),
    "BGRx": (4, (2, 1, 0)),
}

SOFTWARE_SCALER = "videoscale"
SOFTWARE_CONVERTER = "videoconvert"


@dataclass(frozen=True)
class VideoChain:
    """The elements the live mode uses on one SoC."""

    name: str                     # "pxp", "g2d" or "software", for messages and the status API
    scaler: Optional[str]         # hardware element that scales and converts; None: software
    scaled_format: str            # appsink format of the model-sized frames (a PIXEL_LAYOUTS key)
    preferred_decoders: Tuple[str, ...] = ()  # raised above decodebin's software choices
    h264_encoder: Optional[str] = None        # hardware H.264 encoder for --output, if any

    @property
    def hardware_elements(self) -> Tuple[str, ...]:
        return tuple(e for e in (self.scaler, *self.preferred_decoders, self.h264_encoder) if e)


SOFTWARE_CHAIN = VideoChain("software", None, "RGB")
PXP_CHAIN = VideoChain("pxp", "imxvideoconvert_pxp", "BGR")
G2D_CHAIN = VideoChain("g2d", "imxvideoconvert_g2d", "RGBA", ("vpudec",), "vpuenc_h264")

CHAIN_FOR_SOC = {IMX93: PXP_CHAIN, IMX8MP: G2D_CHAIN}


def choose_video_chain(
    soc: Optional[str], element_available: Callable[[str], bool]
) -> Tuple[VideoChain, List[str]]:
    """The chain for `soc` keeping only the elements that exist, and a note per missing one.

    A missing scaler means the software chain (its decoders and encoder are dropped only when they
    are missing themselves); `element_available` is Gst.ElementFactory.find in the app and a fake
    registry in tests.
    """
    wanted = CHAIN_FOR_SOC.get(soc)
    if wanted is None:
        return SOFTWARE_CHAIN, []
    notes = []
    scaler, scaled_format = wanted.scaler, wanted.scaled_format
    if scaler is not None and not element_available(scaler):
        notes.append(f"{scaler} is not available (imx-gst1.0-plugin missing, or its device node "
                     f"is absent); scaling in software, which costs CPU time per frame")
        scaler, scaled_format = None, SOFTWARE_CHAIN.scaled_format
    decoders = tuple(d for d in wanted.preferred_decoders if element_available(d))
    for missing in sorted(set(wanted.preferred_decoders) - set(decoders)):
        notes.append(f"{missing} is not available; decoding video in software")
    # A missing encoder matters only when recording: encoder_note() says so then.
    encoder = wanted.h264_encoder if wanted.h264_encoder and element_available(wanted.h264_encoder) else None
    chain = VideoChain(wanted.name if scaler else "software", scaler, scaled_format, decoders, encoder)
    return chain, notes


def encoder_note(soc: Optional[str], chain: VideoChain) -> Optional[str]:
    """The note for --output when this SoC has a hardware encoder that is not available."""
    wanted = CHAIN_FOR_SOC.get(soc)
    if wanted is not None and wanted.h264_encoder and chain.h264_encoder is None:
        return f"{wanted.h264_encoder} is not available; --output encodes in software (MJPEG)"
    return None


def scale_elements(chain: VideoChain, width: int, height: int) -> str:
    """Pipeline text that turns any raw video into `width` x `height` frames for the model.

    Stretch, like the still-image path (the model was trained with a fixed_shape_resizer):
    videoscale keeps no borders, and the output caps fix both sides.
    """
    caps = f"video/x-raw,format={chain.scaled_format},width={width},height={height}"
    if chain.scaler is not None:
        # videoconvert passes camera and decoder formats (YUY2, NV12, I420...) through untouched;
        # it converts only what the 2D engine cannot read (24-bit RGB from PNG or raw files).
        return f"{SOFTWARE_CONVERTER} ! {chain.scaler} ! {caps}"
    # Scale first, then convert: converting the small frame costs a fraction of the large one.
    return (f"{SOFTWARE_SCALER} add-borders=false ! video/x-raw,width={width},height={height} ! "
            f"{SOFTWARE_CONVERTER} ! {caps}")


# --output FILE: the container comes from the extension. On the board, the software H.264
# encoders (x264, libav) carry LICENSE_FLAGS "commercial", so without a hardware encoder the
# video is MJPEG (plugins-good jpegenc), which needs no such flag. (VP8 would too, but the BSP
# builds gstreamer1.0-plugins-good without vpx.)
CONTAINERS = {".mkv": "matroskamux", ".avi": "avimux", ".mp4": "mp4mux", ".mov": "qtmux"}
_H264_ONLY = (".mp4", ".mov")


class OutputFormatError(ValueError):
    """An --output file name whose container this SoC cannot fill."""


def encoder_elements(path: str, chain: VideoChain) -> str:
    """Pipeline text from raw video to the muxer for an annotated video written to `path`."""
    extension = "." + path.rsplit(".", 1)[-1].lower() if "." in path.rsplit("/", 1)[-1] else ""
    if extension not in CONTAINERS:
        known = ", ".join(sorted(CONTAINERS))
        raise OutputFormatError(f"--output {path}: unknown video container (use one of {known})")
    muxer = CONTAINERS[extension]
    if chain.h264_encoder is not None:
        return f"videoconvert ! {chain.h264_encoder} ! h264parse ! {muxer}"
    if extension in _H264_ONLY:
        raise OutputFormatError(
            f"--output {path}: {extension} needs H.264 and this SoC has no hardware H.264 encoder "
            "(software H.264 needs a commercial licence flag on the board); use .mkv or .avi (MJPEG)"
        )
    return f"videoconvert ! jpegenc quality=85 ! {muxer}"
