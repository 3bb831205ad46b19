"""Per-SoC element choice (live.elements), with faked element registries: what each SoC's
imx-gst1.0-plugin registers, and what happens when an element is missing."""
from __future__ import annotations

import pytest

from ssdlite_detect.device import IMX8MP, IMX93
from ssdlite_detect.live.elements import (
    G2D_CHAIN, PIXEL_LAYOUTS, PXP_CHAIN, SOFTWARE_CHAIN, OutputFormatError, choose_video_chain,
    encoder_elements, encoder_note, scale_elements,
)

# What LF6.1.22_2.0.0 registers on each SoC (VIDEO-FACTS.md section 1) besides upstream GStreamer.
IMX93_REGISTRY = {"imxvideoconvert_pxp", "imxcompositor_pxp"}
IMX8MP_REGISTRY = {"imxvideoconvert_g2d", "imxcompositor_g2d", "vpudec", "vpuenc_h264", "vpuenc_hevc"}


def registry(*names):
    return lambda name: name in names


def test_imx93_uses_the_pxp_with_bgr_output():
    chain, notes = choose_video_chain(IMX93, registry(*IMX93_REGISTRY))
    assert chain == PXP_CHAIN and notes == []
    assert chain.scaler == "imxvideoconvert_pxp"
    assert chain.scaled_format == "BGR"  # the PXP has no RGB output
    assert chain.preferred_decoders == () and chain.h264_encoder is None  # no VPU on the 93


def test_imx8mp_uses_the_g2d_vpudec_and_the_hardware_encoder():
    chain, notes = choose_video_chain(IMX8MP, registry(*IMX8MP_REGISTRY))
    assert chain == G2D_CHAIN and notes == []
    assert chain.scaler == "imxvideoconvert_g2d"
    assert chain.scaled_format == "RGBA"  # the G2D has no 24-bit RGB output
    assert chain.preferred_decoders == ("vpudec",)
    assert chain.h264_encoder == "vpuenc_h264"


@pytest.mark.parametrize("soc", [None, "imx8mm"])
def test_other_socs_use_software(soc):
    assert choose_video_chain(soc, registry(*IMX8MP_REGISTRY)) == (SOFTWARE_CHAIN, [])


def test_the_imx93_never_picks_the_g2d_even_where_it_is_registered():
    chain, _ = choose_video_chain(IMX93, registry(*IMX93_REGISTRY, "imxvideoconvert_g2d"))
    assert chain.scaler == "imxvideoconvert_pxp"


@pytest.mark.parametrize("soc, present", [(IMX93, set()), (IMX8MP, IMX8MP_REGISTRY - {"imxvideoconvert_g2d"})])
def test_a_missing_hardware_scaler_falls_back_to_software_with_one_note(soc, present):
    chain, notes = choose_video_chain(soc, registry(*present))
    assert chain.scaler is None and chain.name == "software" and chain.scaled_format == "RGB"
    scaler_notes = [note for note in notes if "scaling in software" in note]
    assert len(scaler_notes) == 1 and "\n" not in scaler_notes[0]


def test_8mp_without_the_vpu_keeps_the_g2d_and_notes_software_decoding():
    chain, notes = choose_video_chain(IMX8MP, registry("imxvideoconvert_g2d"))
    assert chain.scaler == "imxvideoconvert_g2d" and chain.preferred_decoders == () and chain.h264_encoder is None
    assert len(notes) == 1 and "vpudec" in notes[0]
    # The encoder is mentioned only when recording (--output), by encoder_note.
    assert "vpuenc_h264 is not available" in encoder_note(IMX8MP, chain)
    assert encoder_note(IMX8MP, G2D_CHAIN) is None and encoder_note(IMX93, PXP_CHAIN) is None
    assert encoder_note(None, SOFTWARE_CHAIN) is None


def test_every_chain_format_has_a_pixel_layout():
    for chain in (SOFTWARE_CHAIN, PXP_CHAIN, G2D_CHAIN):
        assert chain.scaled_format in PIXEL_LAYOUTS


def test_scale_elements_stretch_to_the_model_size():
    software = scale_elements(SOFTWARE_CHAIN, 320, 240)
    assert "add-borders=false" in software  # stretch like stills, never letterbox
    assert software.endswith("video/x-raw,format=RGB,width=320,height=240")
    assert scale_elements(PXP_CHAIN, 300, 300) == "videoconvert ! imxvideoconvert_pxp ! video/x-raw,format=BGR,width=300,height=300"


@pytest.mark.parametrize("name, chain, expected", [
    ("out.mkv", SOFTWARE_CHAIN, "jpegenc quality=85 ! matroskamux"),
    ("out.AVI", PXP_CHAIN, "jpegenc quality=85 ! avimux"),
    ("out.mp4", G2D_CHAIN, "vpuenc_h264 ! h264parse ! mp4mux"),
    ("out.mkv", G2D_CHAIN, "vpuenc_h264 ! h264parse ! matroskamux"),
])
def test_encoder_per_container_and_soc(name, chain, expected):
    assert encoder_elements(name, chain) == f"videoconvert ! {expected}"


@pytest.mark.parametrize("name, fragment", [
    ("out.mp4", "no hardware H.264 encoder"),
    ("out.mov", "no hardware H.264 encoder"),
    ("out", "unknown video container"),
    ("out.gif", "unknown video container"),
    ("out.webm", "unknown video container"),  # no VP8 encoder in the BSP's default build
    ("dir.mkv/out", "unknown video container"),
])
def test_unusable_output_names_are_refused(name, fragment):
    with pytest.raises(OutputFormatError, match=fragment):
        encoder_elements(name, PXP_CHAIN)
