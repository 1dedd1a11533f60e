"""Tiny binary mesh files for the reader and corpus-builder tests."""

from __future__ import annotations

import struct

import numpy as np


def md2_bytes(frames: list[tuple[tuple, tuple, list]], tris: list[tuple[int, int, int]]) -> bytes:
    """A minimal Quake2 MD2: no skins, no texture coordinates, no GL commands."""
    nverts = len(frames[0][2])
    framesize = 40 + 4 * nverts
    ofs_tris = 68
    ofs_frames = ofs_tris + 12 * len(tris)
    ofs_end = ofs_frames + framesize * len(frames)
    head = struct.pack("<4s16i", b"IDP2", 8, 64, 64, framesize, 0, nverts, 0, len(tris), 0, len(frames),
                       68, 68, ofs_tris, ofs_frames, ofs_end, ofs_end)
    body = b"".join(struct.pack("<6H", *t, 0, 0, 0) for t in tris)
    for scale, shift, verts in frames:
        body += struct.pack("<3f3f16s", *scale, *shift, b"frame")
        body += b"".join(struct.pack("<4B", *v, 0) for v in verts)
    return head + body


def g3d_bytes(frames: list[np.ndarray], indices: list[int], texture: bool = True) -> bytes:
    """A one-mesh MegaGlest G3D v4 file."""
    nv = len(frames[0])
    out = b"G3D\x04" + struct.pack("<HB", 1, 0)
    out += struct.pack("<64s3I3f3fffII", b"mesh", len(frames), nv, len(indices), 1, 1, 1, 0, 0, 0, 1, 1, 0,
                       1 if texture else 0)
    if texture:
        out += struct.pack("<64s", b"tex.tga")
    out += b"".join(np.asarray(f, "<f4").tobytes() for f in frames)          # positions
    out += b"".join(np.zeros((nv, 3), "<f4").tobytes() for _ in frames)    # normals
    if texture:
        out += np.zeros((nv, 2), "<f4").tobytes()
    return out + np.asarray(indices, "<u4").tobytes()
