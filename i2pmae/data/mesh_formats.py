"""Small readers for mesh formats trimesh cannot read: VRML97, Quake2 MD2, MegaGlest G3D v4, Warzone 2100
PIE and AC3D, plus OFF (trimesh 4.x fails on some OFF files under numpy 2). The real-mesh corpus builder
(``i2pmae.data.realcorpus``) uses them; they work on their own too.

Every reader takes the file's bytes and a name for errors, and returns ``(vertices (V, 3) float64,
faces (F, 3) int64)``: polygons are fan-triangulated, animated formats give their first frame, lines and
points are dropped. A malformed file raises :class:`BadFileError` naming the file and the problem.
``read_mesh(path)`` picks the reader by suffix (OFF has its own too); OBJ/STL/PLY/GLB go through trimesh.
"""

from __future__ import annotations

import io
import re
import struct
from pathlib import Path
from typing import Any, Callable

import numpy as np

from i2pmae.data.errors import BadFileError

Mesh = tuple[np.ndarray, np.ndarray]
TRIMESH_SUFFIXES = (".obj", ".stl", ".ply", ".glb")


def _mesh(vertices: Any, faces: Any, where: str) -> Mesh:
    v = np.asarray(vertices, dtype=np.float64).reshape(-1, 3)
    f = np.asarray(faces, dtype=np.int64).reshape(-1, 3)
    if len(f) and (f.min() < 0 or f.max() >= len(v)):
        raise BadFileError(where, f"face index out of range (0..{len(v) - 1}): {int(f.min())}..{int(f.max())}")
    if not np.isfinite(v).all():
        raise BadFileError(where, "vertices contain NaN/Inf")
    return v, f


def fan_triangulate(index: np.ndarray) -> np.ndarray:
    """(F, 3) triangles of polygons given as indices separated by -1 (VRML coordIndex), as fans from
    each polygon's first vertex; polygons of fewer than 3 indices give none."""
    ci = np.asarray(index, dtype=np.int64).ravel()
    if len(ci) == 0:
        return np.zeros((0, 3), np.int64)
    if ci[-1] != -1:
        ci = np.append(ci, -1)
    sep = ci == -1
    starts = np.r_[0, np.flatnonzero(sep)[:-1] + 1]
    pid = np.cumsum(sep) - sep
    pos = np.arange(len(ci))
    within = pos - starts[pid]
    keep = ~sep & (within >= 2)
    return np.stack([ci[starts[pid[keep]]], ci[pos[keep] - 1], ci[pos[keep]]], axis=1)


def _strip_triangulate(index: list[int]) -> list[tuple[int, int, int]]:
    """Triangles of a triangle strip, flipping every second one to keep the orientation."""
    return [(index[i], index[i + 1], index[i + 2]) if i % 2 == 0 else (index[i + 1], index[i], index[i + 2])
            for i in range(len(index) - 2)]


# --------------------------------------------------------------------------- VRML97

_TOKEN = re.compile(rb'"(?:[^"\\]|\\.)*"|#[^\n]*|[{}\[\]]|[^\s{}\[\]",#]+')
_NUMERIC = re.compile(rb"[^0-9eE+\-.\s,]")
_NUMBER = re.compile(rb"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")


class _VrmlParser:
    """A generic VRML97 node parser: nodes with DEF/USE, fields holding numbers, strings, nodes or lists.
    Purely numeric ``[...]`` lists (points, indices) are parsed by numpy in one go."""

    def __init__(self, data: bytes, where: str) -> None:
        self.data, self.where, self.pos = data, where, 0
        self.defs: dict[bytes, dict] = {}
        self.peeked: list[Any] = []

    def fail(self, problem: str) -> None:
        line = self.data.count(b"\n", 0, self.pos) + 1
        raise BadFileError(self.where, f"VRML: {problem} (near line {line})")

    def _next_raw(self) -> Any:
        while True:
            m = _TOKEN.search(self.data, self.pos)
            if m is None:
                self.pos = len(self.data)
                return None
            tok, self.pos = m.group(), m.end()
            if tok.startswith(b"#"):
                continue
            if tok == b"[":  # fast path: a purely numeric list
                end = self.data.find(b"]", self.pos)
                body = self.data[self.pos:end] if end >= 0 else b""
                if end >= 0 and not _NUMERIC.search(body):
                    self.pos = end + 1
                    text = body.replace(b",", b" ")
                    arr = np.array(text.split(), dtype=np.float64) if text.strip() else np.zeros(0)
                    return ("array", arr)
            return tok

    def peek(self, k: int = 0) -> Any:
        while len(self.peeked) <= k:
            self.peeked.append(self._next_raw())
        return self.peeked[k]

    def next(self) -> Any:
        tok = self.peek()
        self.peeked.pop(0)
        return tok

    def expect(self, want: bytes) -> None:
        tok = self.next()
        if tok != want:
            self.fail(f"expected {want.decode()!r}, found {self._show(tok)}")

    @staticmethod
    def _show(tok: Any) -> str:
        if tok is None:
            return "end of file"
        return "a numeric list" if isinstance(tok, tuple) else repr(tok.decode(errors="replace"))

    def starts_node(self) -> bool:
        tok = self.peek()
        return tok in (b"DEF", b"USE") or (isinstance(tok, bytes) and self.peek(1) == b"{" and tok not in b"{}[]")

    def node(self) -> dict | None:
        tok = self.next()
        if tok == b"USE":
            name = self.next()
            if name not in self.defs:
                self.fail(f"USE of undefined name {self._show(name)}")
            return self.defs[name]
        name = None
        if tok == b"DEF":
            name, tok = self.next(), self.next()
        if not isinstance(tok, bytes) or self.peek() != b"{":
            self.fail(f"expected a node, found {self._show(tok)}")
        self.next()
        node: dict[str, Any] = {"type": tok.decode(errors="replace"), "fields": {}}
        if name is not None:
            self.defs[name] = node
        while True:
            tok = self.peek()
            if tok == b"}":
                self.next()
                return node
            if tok is None or not isinstance(tok, bytes) or tok in (b"{", b"[", b"]"):
                self.fail(f"expected a field name or '}}' in {node['type']}, found {self._show(tok)}")
            if tok == b"ROUTE":  # ROUTE a.b TO c.d: animation wiring, no geometry
                self.skip_route()
                continue
            field = self.next().decode(errors="replace")
            node["fields"][field] = self.value()

    def value(self) -> Any:
        tok = self.peek()
        if isinstance(tok, tuple):
            return self.next()[1]
        if tok == b"[":
            self.next()
            items: list[Any] = []
            while self.peek() != b"]":
                if self.peek() is None:
                    self.fail("unclosed '['")
                if self.peek() == b"ROUTE":
                    self.skip_route()
                elif self.starts_node():
                    items.append(self.node())
                else:
                    items.append(self._scalar(self.next()))
            self.next()
            return items
        if self.starts_node():
            return self.node()
        if tok is None:
            self.fail("missing field value at end of file")
        if tok.startswith(b'"') or tok in (b"NULL", b"TRUE", b"FALSE"):
            return self._scalar(self.next())
        values = []
        while isinstance(self.peek(), bytes) and (_NUMBER.match(self.peek()) or self.peek() in (b"TRUE", b"FALSE")):
            values.append(self._scalar(self.next()))
        if not values:
            self.fail(f"unexpected {self._show(tok)}")
        return values[0] if len(values) == 1 else np.array(values, dtype=np.float64)

    def skip_route(self) -> None:
        for _ in range(4):
            self.next()

    def _scalar(self, tok: Any) -> Any:
        if isinstance(tok, tuple):
            return tok[1]
        if tok.startswith(b'"'):
            return tok[1:-1].decode(errors="replace")
        if tok in (b"TRUE", b"FALSE", b"NULL"):
            return {b"TRUE": True, b"FALSE": False, b"NULL": None}[tok]
        if _NUMBER.match(tok):
            return float(tok)
        self.fail(f"unexpected {self._show(tok)}")

    def scene(self) -> list[dict]:
        nodes = []
        while self.peek() is not None:
            tok = self.peek()
            if tok == b"ROUTE":
                self.skip_route()
                continue
            if tok in (b"PROTO", b"EXTERNPROTO"):
                self.fail("PROTO/EXTERNPROTO are not supported")
            nodes.append(self.node())
        return nodes


def _axis_angle(r: Any) -> np.ndarray:
    r = np.asarray(r, dtype=np.float64).ravel()
    axis, angle = r[:3], r[3]
    norm = np.linalg.norm(axis)
    if norm == 0 or angle == 0:
        return np.eye(3)
    x, y, z = axis / norm
    k = np.array([[0, -z, y], [z, 0, -x], [-y, x, 0]])
    return np.eye(3) + np.sin(angle) * k + (1 - np.cos(angle)) * (k @ k)


def _affine(linear: np.ndarray | None = None, shift: Any = None) -> np.ndarray:
    m = np.eye(4)
    if linear is not None:
        m[:3, :3] = linear
    if shift is not None:
        m[:3, 3] = np.asarray(shift, dtype=np.float64).ravel()[:3]
    return m


def _transform_matrix(fields: dict) -> np.ndarray:
    """VRML97 Transform: T * C * R * SR * S * -SR * -C."""
    t, c = fields.get("translation", np.zeros(3)), np.asarray(fields.get("center", np.zeros(3)), float)
    r, s = fields.get("rotation", (0, 0, 1, 0)), fields.get("scale", np.ones(3))
    sr = _axis_angle(fields.get("scaleOrientation", (0, 0, 1, 0)))
    scale = sr @ np.diag(np.asarray(s, dtype=np.float64).ravel()[:3]) @ sr.T
    return _affine(None, t) @ _affine(None, c) @ _affine(_axis_angle(r) @ scale) @ _affine(None, -c)


def _as_nodes(value: Any) -> list[dict]:
    if isinstance(value, dict):
        return [value]
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def read_wrl(data: bytes, where: str = "<vrml>") -> Mesh:
    """VRML97 IndexedFaceSets (Transform with translation/rotation/scale/scaleOrientation/center, Group,
    DEF/USE, nested children, Switch's chosen child, LOD's first level), all in world coordinates."""
    if not data.lstrip().startswith(b"#VRML V2.0"):
        raise BadFileError(where, "VRML: not a VRML 2.0 file (no '#VRML V2.0' header)")
    parser = _VrmlParser(data, where)
    verts: list[np.ndarray] = []
    faces: list[np.ndarray] = []
    count = 0

    def walk(node: dict, m: np.ndarray, depth: int) -> None:
        nonlocal count
        if depth > 64:
            raise BadFileError(where, "VRML: nodes nested deeper than 64 (a USE cycle?)")
        kind, fields = node["type"], node["fields"]
        if kind == "Transform":
            m = m @ _transform_matrix(fields)
        if kind == "IndexedFaceSet":
            coord = fields.get("coord")
            if not isinstance(coord, dict) or "point" not in coord["fields"]:
                return
            pts = np.asarray(coord["fields"]["point"], dtype=np.float64).ravel()
            if len(pts) % 3:
                raise BadFileError(where, f"VRML: Coordinate.point holds {len(pts)} numbers, not a multiple of 3")
            pts = pts.reshape(-1, 3)
            tri = fan_triangulate(np.asarray(fields.get("coordIndex", np.zeros(0)), dtype=np.float64))
            if len(tri) and (tri.min() < 0 or tri.max() >= len(pts)):
                raise BadFileError(where, f"VRML: coordIndex {int(tri.max())} out of range ({len(pts)} points)")
            verts.append(pts @ m[:3, :3].T + m[:3, 3])
            faces.append(tri + count)
            count += len(pts)
            return
        if kind == "Switch":
            choice = int(fields.get("whichChoice", -1))
            kids = _as_nodes(fields.get("choice", []))
            children = [kids[choice]] if 0 <= choice < len(kids) else []
        elif kind == "LOD":
            children = _as_nodes(fields.get("level", []))[:1]
        elif kind == "Shape":
            children = _as_nodes(fields.get("geometry", []))
        else:
            children = _as_nodes(fields.get("children", []))
        for child in children:
            walk(child, m, depth + 1)

    for top in parser.scene():
        walk(top, np.eye(4), 0)
    if not verts:
        return _mesh(np.zeros((0, 3)), np.zeros((0, 3)), where)
    return _mesh(np.concatenate(verts), np.concatenate(faces), where)


# --------------------------------------------------------------------------- Quake2 MD2


def read_md2(data: bytes, where: str = "<md2>") -> Mesh:
    """Quake2 MD2, frame 0: vertex = byte position * frame scale + frame translate."""
    if len(data) < 68 or data[:4] != b"IDP2":
        raise BadFileError(where, "MD2: missing 'IDP2' header")
    h = struct.unpack_from("<17i", data, 0)
    version, nverts, ntris, nframes = h[1], h[6], h[8], h[10]
    ofs_tris, ofs_frames = h[13], h[14]
    if version != 8:
        raise BadFileError(where, f"MD2: version {version}, expected 8")
    if nframes < 1 or nverts < 1:
        raise BadFileError(where, f"MD2: {nframes} frames, {nverts} vertices")
    if ofs_tris + 12 * ntris > len(data) or ofs_frames + 40 + 4 * nverts > len(data) or min(ofs_tris, ofs_frames) < 0:
        raise BadFileError(where, f"MD2: truncated ({len(data)} bytes; header points past the end)")
    tris = np.frombuffer(data, dtype="<u2", count=6 * ntris, offset=ofs_tris).reshape(-1, 6)[:, :3]
    scale = np.frombuffer(data, dtype="<f4", count=3, offset=ofs_frames).astype(np.float64)
    shift = np.frombuffer(data, dtype="<f4", count=3, offset=ofs_frames + 12).astype(np.float64)
    packed = np.frombuffer(data, dtype=np.uint8, count=4 * nverts, offset=ofs_frames + 40).reshape(-1, 4)
    return _mesh(packed[:, :3] * scale + shift, tris, where)


# --------------------------------------------------------------------------- MegaGlest G3D


def read_g3d(data: bytes, where: str = "<g3d>") -> Mesh:
    """MegaGlest G3D version 4, frame 0 of every mesh. Layout: 'G3D' + version byte; uint16 mesh count,
    uint8 type; per mesh a 116-byte header (name[64], frame/vertex/index counts, colours, opacity,
    properties, texture flags), 64 bytes per texture flag bit (3 bits), then frames x vertices x 3 floats
    of positions, as many normals, 2 floats per vertex of texture coordinates if any texture, uint32
    indices (triangle list)."""
    if len(data) < 7 or data[:3] != b"G3D":
        raise BadFileError(where, "G3D: missing 'G3D' header")
    if data[3] != 4:
        raise BadFileError(where, f"G3D: version {data[3]} is not supported (only version 4)")
    nmesh = struct.unpack_from("<H", data, 4)[0]
    off, verts, faces, count = 7, [], [], 0
    for k in range(nmesh):
        if off + 116 > len(data):
            raise BadFileError(where, f"G3D: truncated in the header of mesh {k}")
        frames, nv, ni = struct.unpack_from("<3I", data, off + 64)
        tex = struct.unpack_from("<I", data, off + 112)[0]
        off += 116 + 64 * bin(tex & 7).count("1")
        end = off + 24 * frames * nv + (8 * nv if tex else 0) + 4 * ni
        if frames < 1 or ni % 3 or end > len(data):
            raise BadFileError(where, f"G3D: mesh {k} ({frames} frames, {nv} vertices, {ni} indices) "
                               f"does not fit the file ({len(data)} bytes)")
        pos = np.frombuffer(data, dtype="<f4", count=3 * nv, offset=off).reshape(-1, 3)
        idx = np.frombuffer(data, dtype="<u4", count=ni, offset=end - 4 * ni).astype(np.int64)
        if ni and idx.max() >= nv:
            raise BadFileError(where, f"G3D: mesh {k} index {int(idx.max())} out of range ({nv} vertices)")
        verts.append(pos.astype(np.float64))
        faces.append(idx.reshape(-1, 3) + count)
        count += nv
        off = end
    if not verts:
        return _mesh(np.zeros((0, 3)), np.zeros((0, 3)), where)
    return _mesh(np.concatenate(verts), np.concatenate(faces), where)


# --------------------------------------------------------------------------- Warzone 2100 PIE


def read_pie(data: bytes, where: str = "<pie>") -> Mesh:
    """Warzone 2100 PIE (versions 2-4, text): the POINTS and POLYGONS of every LEVEL, merged. A polygon
    line is ``flags nverts i0 i1 ... [texture coordinates]``; other sections are skipped."""
    lines = data.decode("latin-1").splitlines()
    if not lines or not lines[0].strip().startswith("PIE"):
        raise BadFileError(where, "PIE: missing 'PIE' header")
    verts, faces, base, level_pts = [], [], 0, 0
    i = 0
    try:
        while i < len(lines):
            tok = lines[i].split()
            i += 1
            if not tok:
                continue
            if tok[0] == "LEVEL":
                base += level_pts
                level_pts = 0
            elif tok[0] == "POINTS":
                n = int(tok[1])
                nums = " ".join(lines[i:i + n]).split()
                pts = np.array(nums, dtype=np.float64).reshape(n, 3)
                verts.append(pts)
                level_pts += n
                i += n
            elif tok[0] == "POLYGONS":
                for line in lines[i:i + int(tok[1])]:
                    parts = line.split()
                    nv = int(parts[1])
                    idx = [int(p) for p in parts[2:2 + nv]]
                    if len(idx) != nv:
                        raise ValueError(f"polygon line {line.strip()!r} has fewer than {nv} indices")
                    if idx and (min(idx) < 0 or max(idx) >= level_pts):
                        raise ValueError(f"polygon index out of range ({level_pts} points): {line.strip()!r}")
                    faces.extend((base + idx[0], base + idx[j - 1], base + idx[j]) for j in range(2, nv))
                i += int(tok[1])
    except (ValueError, IndexError) as exc:
        raise BadFileError(where, f"PIE: malformed near line {i} ({exc})") from None
    if not verts:
        return _mesh(np.zeros((0, 3)), np.zeros((0, 3)), where)
    return _mesh(np.concatenate(verts), np.array(faces, dtype=np.int64), where)


# --------------------------------------------------------------------------- AC3D


def read_ac(data: bytes, where: str = "<ac>") -> Mesh:
    """AC3D ``.ac`` / ``.acc`` text: OBJECTs with loc/rot (a child's vertices are mapped by its own rot and
    loc, row-vector convention ``v @ rot + loc``, then by its parents'), numvert (extra columns such as
    normals ignored), numsurf with SURF type 0 (polygon, fan) and 4 (triangle strip); lines are dropped.

    The format says only that ``rot`` is the 3x3 matrix of the object's vertices and ``loc`` its centre, both
    relative to the parent. The nine numbers are taken row by row as the images of the x, y and z axes
    (``v @ rot``), as PLIB's loader (used by TORCS and CRRCsim, the corpus's .ac sources) stores them in its
    row-vector matrices and Blender's AC3D exporter writes them; OpenSceneGraph and Assimp apply the
    transpose. No .ac/.acc file of the real corpus has a ``rot`` line: its clouds do not depend on this."""
    lines = data.decode("latin-1").splitlines()
    if not lines or not lines[0].startswith("AC3D"):
        raise BadFileError(where, "AC3D: missing 'AC3D' header")
    state = {"i": 1}

    def line() -> list[str]:
        while state["i"] < len(lines):
            tok = lines[state["i"]].split()
            state["i"] += 1
            if tok:
                return tok
        raise ValueError("unexpected end of file")

    def at_end() -> bool:
        return not any(rest.strip() for rest in lines[state["i"]:])

    def obj(depth: int) -> tuple[np.ndarray, np.ndarray]:
        if depth > 256:
            raise ValueError("objects nested deeper than 256")
        rot, loc = np.eye(3), np.zeros(3)
        pts = np.zeros((0, 3))
        tris: list[tuple[int, int, int]] = []
        parts_v, parts_f, count = [], [], 0
        while True:
            tok = line()
            key = tok[0]
            if key == "loc":
                loc = np.array(tok[1:4], dtype=np.float64)
            elif key == "rot":
                rot = np.array(tok[1:10], dtype=np.float64).reshape(3, 3)
            elif key == "data":
                need, got = int(tok[1]), 0
                while got < need and state["i"] < len(lines):
                    got += len(lines[state["i"]]) + 1
                    state["i"] += 1
            elif key == "numvert":
                n = int(tok[1])
                rows = [line()[:3] for _ in range(n)]
                pts = np.array(rows, dtype=np.float64).reshape(n, 3)
            elif key == "numsurf":
                for _ in range(int(tok[1])):
                    flags = line()
                    if flags[0] != "SURF":
                        raise ValueError(f"expected SURF, found {' '.join(flags)!r}")
                    kind = int(flags[1], 0) & 0xF
                    head = line()
                    if head[0] == "mat":
                        head = line()
                    if head[0] != "refs":
                        raise ValueError(f"expected refs, found {' '.join(head)!r}")
                    idx = [int(line()[0]) for _ in range(int(head[1]))]
                    if idx and (min(idx) < 0 or max(idx) >= len(pts)):
                        raise ValueError(f"surface index out of range ({len(pts)} vertices)")
                    if kind == 0:
                        tris.extend((idx[0], idx[j - 1], idx[j]) for j in range(2, len(idx)))
                    elif kind == 4:
                        tris.extend(_strip_triangulate(idx))
            elif key == "kids":
                parts_v.append(pts)
                parts_f.append(np.array(tris, dtype=np.int64).reshape(-1, 3))
                count = len(pts)
                for _ in range(int(tok[1])):
                    if at_end():
                        break  # some exporters (TORCS tracks) announce more kids than they write
                    head = line()
                    if head[0] != "OBJECT":
                        raise ValueError(f"expected OBJECT, found {' '.join(head)!r}")
                    cv, cf = obj(depth + 1)
                    parts_v.append(cv)
                    parts_f.append(cf + count)
                    count += len(cv)
                v = np.concatenate(parts_v) if parts_v else np.zeros((0, 3))
                return v @ rot + loc, np.concatenate(parts_f)
            # name, texture, texrep, texoff, crease, url, hidden, locked, folded, subdiv, MATERIAL: ignored

    try:
        verts, faces = [], []
        count = 0
        while state["i"] < len(lines):
            tok = lines[state["i"]].split()
            state["i"] += 1
            if tok and tok[0] == "OBJECT":
                v, f = obj(0)
                verts.append(v)
                faces.append(f + count)
                count += len(v)
    except (ValueError, IndexError) as exc:
        raise BadFileError(where, f"AC3D: malformed near line {state['i']} ({exc})") from None
    if not verts:
        return _mesh(np.zeros((0, 3)), np.zeros((0, 3)), where)
    return _mesh(np.concatenate(verts), np.concatenate(faces), where)


# --------------------------------------------------------------------------- OFF


def read_off(data: bytes, where: str = "<off>") -> Mesh:
    """Object File Format (OFF, COFF, NOFF, STOFF, ...: extra per-vertex columns ignored): the vertex and
    face counts, vertex lines, face lines ``n i0 .. i(n-1) [colour]`` (fan-triangulated); '#' comments."""
    lines = [ln.split("#", 1)[0].split() for ln in data.decode("latin-1").splitlines()]
    lines = [ln for ln in lines if ln]
    if not lines or not lines[0][0].endswith("OFF") or lines[0][0][:-3].strip("STCN"):
        raise BadFileError(where, "OFF: missing 'OFF' header (or an unsupported variant such as 4OFF/nOFF)")
    try:
        counts = lines[0][1:] or lines[1]
        at = 1 if lines[0][1:] else 2
        nv, nf = int(counts[0]), int(counts[1])
        if len(lines) < at + nv + nf:
            raise ValueError(f"{nv} vertices and {nf} faces announced, file ends early")
        if any(len(ln) < 3 for ln in lines[at:at + nv]):
            raise ValueError("a vertex line with fewer than 3 numbers")
        verts = np.array([ln[:3] for ln in lines[at:at + nv]], dtype=np.float64).reshape(nv, 3)
        faces: list[tuple[int, int, int]] = []
        for ln in lines[at + nv:at + nv + nf]:
            idx = [int(t) for t in ln[1:1 + int(ln[0])]]
            if len(idx) != int(ln[0]):
                raise ValueError(f"face line {' '.join(ln)!r} has fewer than {ln[0]} indices")
            faces.extend((idx[0], idx[j - 1], idx[j]) for j in range(2, len(idx)))
    except (ValueError, IndexError) as exc:
        raise BadFileError(where, f"OFF: malformed ({exc})") from None
    return _mesh(verts, np.array(faces, dtype=np.int64).reshape(-1, 3), where)


# --------------------------------------------------------------------------- trimesh and dispatch


def read_trimesh(data: bytes, where: str = "<mesh>", suffix: str = ".obj") -> Mesh:
    """OBJ/STL/PLY/GLB through trimesh (all parts of a scene, with their transforms); no external files
    (materials, textures) are opened."""
    import trimesh

    try:
        geom = trimesh.load(io.BytesIO(data), file_type=suffix.lstrip(".").lower(), process=False,
                            force="mesh", skip_materials=True)
    except Exception as exc:
        raise BadFileError(where, f"trimesh could not read it ({type(exc).__name__}: {exc})") from None
    v = np.asarray(getattr(geom, "vertices", np.zeros((0, 3))), dtype=np.float64)
    f = np.asarray(getattr(geom, "faces", np.zeros((0, 3))), dtype=np.int64)
    return _mesh(v.reshape(-1, 3), f.reshape(-1, 3), where)


READERS: dict[str, Callable[[bytes, str], Mesh]] = {
    ".wrl": read_wrl, ".md2": read_md2, ".g3d": read_g3d, ".pie": read_pie, ".ac": read_ac, ".acc": read_ac,
    ".off": read_off,
}
MESH_SUFFIXES = tuple(READERS) + TRIMESH_SUFFIXES


def read_mesh_bytes(data: bytes, name: str) -> Mesh:
    """(vertices, faces) of a mesh file's bytes; the reader is chosen by the suffix of ``name``."""
    suffix = Path(name).suffix.lower()
    if suffix in READERS:
        return READERS[suffix](data, name)
    if suffix in TRIMESH_SUFFIXES:
        return read_trimesh(data, name, suffix)
    raise BadFileError(name, f"unsupported mesh suffix {suffix!r}; use one of {', '.join(MESH_SUFFIXES)}")


def read_mesh(path: str | Path) -> Mesh:
    """(vertices, faces) of a mesh file on disk (see :func:`read_mesh_bytes`)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise BadFileError(path, f"cannot read ({exc.strerror or exc})") from None
    return read_mesh_bytes(data, str(path))
