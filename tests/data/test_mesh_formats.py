"""The small mesh readers (VRML, MD2, G3D, PIE, AC3D, OFF) on tiny files built here, checked exactly."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest

from helpers_meshes import g3d_bytes, md2_bytes

from i2pmae.data.errors import BadFileError
from i2pmae.data.mesh_formats import (fan_triangulate, read_ac, read_g3d, read_md2, read_mesh, read_mesh_bytes,
                                      read_off, read_pie, read_wrl)

VRML = b"""#VRML V2.0 utf8
# a unit quad, scaled by 2 and moved by +1 in x; then the same face set (USE) turned 90 degrees about z
# around the centre (1, 0, 0), inside a nested Group
DEF T Transform {
  translation 1 0 0
  scale 2 2 2
  children [
    Shape {
      appearance Appearance { material DEF M Material { diffuseColor 1 0 0 } }
      geometry DEF F IndexedFaceSet {
        coord Coordinate { point [ 0 0 0, 1 0 0, 1 1 0, 0 1 0 ] }
        coordIndex [ 0, 1, 2, 3, -1 ]
        solid FALSE
      }
    }
  ]
}
Group { children [
  Transform { rotation 0 0 1 1.5707963267948966 center 1 0 0
    children Shape { appearance Appearance { material USE M } geometry USE F } }
] }
"""


def test_vrml_transform_def_use_and_fans() -> None:
    v, f = read_wrl(VRML, "t.wrl")
    want = [[1, 0, 0], [3, 0, 0], [3, 2, 0], [1, 2, 0],       # scaled by 2, then moved by +1 in x
            [1, -1, 0], [1, 0, 0], [0, 0, 0], [0, -1, 0]]     # p -> C + R90(p - C), C = (1, 0, 0)
    np.testing.assert_allclose(v, want, atol=1e-12)
    np.testing.assert_array_equal(f, [[0, 1, 2], [0, 2, 3], [4, 5, 6], [4, 6, 7]])


def test_fan_triangulation_of_coord_index() -> None:
    tri = fan_triangulate(np.array([0, 1, 2, 3, 4, -1, -1, 5, 6, -1, 7, 8, 9]))
    np.testing.assert_array_equal(tri, [[0, 1, 2], [0, 2, 3], [0, 3, 4], [7, 8, 9]])


@pytest.mark.parametrize("text, problem", [
    (b"#VRML V2.0 utf8\nShape { geometry USE NOPE }", "undefined name"),
    (b"#VRML V2.0 utf8\nShape { geometry IndexedFaceSet { coord Coordinate { point [0 0 0] } coordIndex [0 0 1 -1] } }",
     "out of range"),
    (b"#VRML V1.0 ascii\nSeparator { }", "VRML 2.0"),
    (b"#VRML V2.0 utf8\nShape { geometry IndexedFaceSet { coord Coordinate { point [0 0 0 ", "unclosed"),
])
def test_vrml_errors_name_the_file(text: bytes, problem: str) -> None:
    with pytest.raises(BadFileError, match=f"bad.wrl.*{problem}"):
        read_wrl(text, "bad.wrl")


def test_md2_frame_zero() -> None:
    data = md2_bytes([((0.5, 1.0, 2.0), (1.0, 2.0, 3.0), [(0, 0, 0), (2, 0, 0), (0, 4, 1)]),
                      ((9.0, 9.0, 9.0), (0.0, 0.0, 0.0), [(1, 1, 1), (1, 1, 1), (1, 1, 1)])],
                     [(0, 1, 2)])
    v, f = read_md2(data, "x.md2")
    np.testing.assert_allclose(v, [[1, 2, 3], [2, 2, 3], [1, 6, 5]])
    np.testing.assert_array_equal(f, [[0, 1, 2]])
    with pytest.raises(BadFileError, match="x.md2.*truncated"):
        read_md2(data[:90], "x.md2")


def test_g3d_frame_zero() -> None:
    first = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]], dtype=float)
    data = g3d_bytes([first, first + 5], [0, 1, 2, 0, 2, 3])
    v, f = read_g3d(data, "u.g3d")
    np.testing.assert_allclose(v, first)
    np.testing.assert_array_equal(f, [[0, 1, 2], [0, 2, 3]])
    v2, _ = read_g3d(g3d_bytes([first], [0, 1, 2], texture=False), "u.g3d")
    np.testing.assert_allclose(v2, first)
    with pytest.raises(BadFileError, match="u.g3d.*does not fit"):
        read_g3d(data[:-4], "u.g3d")
    with pytest.raises(BadFileError, match="u.g3d.*version 3"):
        read_g3d(b"G3D\x03" + data[4:], "u.g3d")


PIE = b"""PIE 3
TYPE 10200
TEXTURE 0 page-7.png 0 0
LEVELS 2
LEVEL 1
POINTS 4
\t0 0 0
\t1 0 0
\t1 1 0
\t0 1 0
POLYGONS 1
\t200 4 0 1 2 3 0 0 1 0 1 1 0 1
LEVEL 2
POINTS 3
\t0 0 5
\t2 0 5
\t0 2 5
POLYGONS 1
\t4200 3 2 1 0 8 1 16 16 0 0 1 0 0 1
CONNECTORS 1
\t0 0 10
"""


def test_pie_levels_inside_a_zip() -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("components/weapons/gun.pie", PIE)
    data = zipfile.ZipFile(io.BytesIO(buf.getvalue())).read("components/weapons/gun.pie")
    v, f = read_pie(data, "base.wz!components/weapons/gun.pie")
    np.testing.assert_allclose(v, [[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0], [0, 0, 5], [2, 0, 5], [0, 2, 5]])
    np.testing.assert_array_equal(f, [[0, 1, 2], [0, 2, 3], [6, 5, 4]])
    with pytest.raises(BadFileError, match="gun.pie.*out of range"):
        read_pie(PIE.replace(b"200 4 0 1 2 3", b"200 4 0 1 2 9"), "gun.pie")


AC = b"""AC3Db
MATERIAL "m" rgb 1 1 1  amb 0.2 0.2 0.2  emis 0 0 0  spec 0 0 0  shi 0  trans 0
OBJECT world
kids 1
OBJECT poly
name "parent"
data 5
hello
loc 1 0 0
rot 0 1 0 -1 0 0 0 0 1
numvert 4
1 0 0
0 0 0
0 1 0
1 1 0 0 0 1
numsurf 3
SURF 0x10
mat 0
refs 4
0 0 0
1 0 0
2 0 0
3 0 0
SURF 0x14
refs 4
0 0 0
1 0 0
2 0 0
3 0 0
SURF 0x12
refs 2
0 0 0
1 0 0
kids 1
OBJECT poly
loc 0 0 2
numvert 3
0 0 0
1 0 0
0 1 0
numsurf 1
SURF 0x0
refs 3
0 0 0
1 0 0
2 0 0
kids 0
"""


def test_ac3d_kids_loc_rot_and_strips() -> None:
    v, f = read_ac(AC, "car.ac")
    rot = np.array([[0, 1, 0], [-1, 0, 0], [0, 0, 1]], dtype=float)  # rows as written (v @ rot)
    own = np.array([[1, 0, 0], [0, 0, 0], [0, 1, 0], [1, 1, 0]], dtype=float)
    kid = np.array([[0, 0, 2], [1, 0, 2], [0, 1, 2]], dtype=float)  # its loc applied first, then the parent's
    np.testing.assert_allclose(v, np.concatenate([own, kid]) @ rot + [1, 0, 0])
    # polygon fan (0,1,2), (0,2,3); strip (0,1,2), (2,1,3); the line surface is dropped; the kid's triangle
    np.testing.assert_array_equal(f, [[0, 1, 2], [0, 2, 3], [0, 1, 2], [2, 1, 3], [4, 5, 6]])
    with pytest.raises(BadFileError, match="car.ac.*out of range"):
        read_ac(AC.replace(b"refs 3\n0 0 0\n1 0 0\n2 0 0", b"refs 3\n0 0 0\n1 0 0\n7 0 0"), "car.ac")


AC_ROT = b"""AC3Db
OBJECT world
kids 1
OBJECT group
name "arm"
rot 0 1 0  -1 0 0  0 0 1
loc 10 0 0
numvert 3
1 0 0
0 1 0
0 0 1
numsurf 1
SURF 0x10
refs 3
0 0 0
1 0 0
2 0 0
kids 1
OBJECT poly
name "hand"
loc 0 0 5
rot 1 0 0  0 0 1  0 -1 0
numvert 3
2 0 0
0 3 0
0 0 4
numsurf 1
SURF 0x10
refs 3
0 0 0
1 0 0
2 0 0
kids 0
"""


def test_ac3d_rot_and_loc_by_hand() -> None:
    """Positions worked out by hand. The AC3D format: ``rot`` is the 3x3 matrix of the object's vertices and
    ``loc`` its centre, both relative to the parent; so a vertex is rotated, then moved by loc, then by every
    parent's rot and loc in turn (the order of the two lines in the file does not matter). The nine numbers
    are read row by row and the rows are the images of the x, y and z axes (``v @ rot``), as PLIB's loader
    (TORCS's and CRRCsim's, whose .ac files the real corpus reads) stores them in its row-vector matrices and
    Blender's AC3D exporter writes them;
    OpenSceneGraph and Assimp apply the transpose. None of the corpus's .ac/.acc files has a ``rot`` line.

    arm: rot maps x -> (0,1,0), y -> (-1,0,0), z -> z (90 degrees about z), loc (10,0,0):
      (1,0,0) -> (0,1,0) -> (10,1,0);  (0,1,0) -> (-1,0,0) -> (9,0,0);  (0,0,1) -> (10,0,1)
    hand: rot maps x -> x, y -> (0,0,1), z -> (0,-1,0), loc (0,0,5), then the arm's rot and loc:
      (2,0,0) -> (2,0,0) -> (2,0,5) -> arm (0,2,5) -> (10,2,5)
      (0,3,0) -> (0,0,3) -> (0,0,8) -> arm (0,0,8) -> (10,0,8)
      (0,0,4) -> (0,-4,0) -> (0,-4,5) -> arm (4,0,5) -> (14,0,5)
    """
    v, f = read_ac(AC_ROT, "arm.ac")
    np.testing.assert_allclose(v, [[10, 1, 0], [9, 0, 0], [10, 0, 1], [10, 2, 5], [10, 0, 8], [14, 0, 5]])
    np.testing.assert_array_equal(f, [[0, 1, 2], [3, 4, 5]])
    moved = AC_ROT.replace(b"loc 0 0 5\nrot 1 0 0  0 0 1  0 -1 0\n", b"rot 1 0 0  0 0 1  0 -1 0\nloc 0 0 5\n")
    assert moved != AC_ROT
    np.testing.assert_allclose(read_ac(moved, "arm.ac")[0], v)


def test_off_and_dispatch(tmp_path) -> None:
    text = b"OFF\n# a square\n4 1 0\n0 0 0\n1 0 0\n1 1 0\n0 1 0\n4 0 1 2 3 255 0 0\n"
    v, f = read_off(text, "sq.off")
    np.testing.assert_allclose(v, [[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0]])
    np.testing.assert_array_equal(f, [[0, 1, 2], [0, 2, 3]])
    path = tmp_path / "sq.off"
    path.write_bytes(text)
    np.testing.assert_array_equal(read_mesh(path)[1], f)
    with pytest.raises(BadFileError, match="sq.off.*ends early"):
        read_off(text[:-20], "sq.off")
    with pytest.raises(BadFileError, match=r"x.fbx.*unsupported mesh suffix"):
        read_mesh_bytes(b"", "x.fbx")
    obj = b"v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\n"
    v, f = read_mesh_bytes(obj, "t.obj")
    np.testing.assert_allclose(v, [[0, 0, 0], [1, 0, 0], [0, 1, 0]])
    np.testing.assert_array_equal(f, [[0, 1, 2]])
