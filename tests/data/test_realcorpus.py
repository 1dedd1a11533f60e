"""The real-mesh corpus builder on tiny fake .deb packages built here (CI never downloads the corpus)."""

from __future__ import annotations

import io
import json
import re
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest

from helpers_meshes import md2_bytes

from i2pmae.data import realcorpus as rc
from i2pmae.data.folder import PointFolder


def box_wrl(sx: float, sy: float, sz: float, shift: float = 0.0, scale: float = 1.0) -> bytes:
    pts = [(x * sx, y * sy, z * sz) for x in (0, 1) for y in (0, 1) for z in (0, 1)]
    quads = "0 1 3 2 -1 4 6 7 5 -1 0 4 5 1 -1 2 3 7 6 -1 0 2 6 4 -1 1 5 7 3 -1"
    point = ", ".join(f"{x} {y} {z}" for x, y, z in pts)
    return (f"#VRML V2.0 utf8\nTransform {{ translation {shift} 0 0 scale {scale} {scale} {scale} children [\n"
            f"Shape {{ geometry IndexedFaceSet {{ coord Coordinate {{ point [ {point} ] }} coordIndex [ {quads} ] }} }}"
            f" ] }}\n").encode()


def wedge_md2(k: int) -> bytes:
    """A closed wedge (a triangular prism) whose shape changes with k."""
    verts = [(0, 0, 0), (40 + 20 * k, 0, 0), (0, 60, 0), (0, 0, 30 + 40 * k), (40 + 20 * k, 0, 30 + 40 * k),
             (0, 60, 30 + 40 * k)]
    tris = [(0, 2, 1), (3, 4, 5), (0, 1, 4), (0, 4, 3), (1, 2, 5), (1, 5, 4), (2, 0, 3), (2, 3, 5)]
    return md2_bytes([((1.0, 1.0, 1.0), (0.0, 0.0, 0.0), verts)], tris)


def tar_xz(files: dict[str, bytes], links: dict[str, str] | None = None) -> bytes:
    """A tar.xz of ``files`` plus symbolic links ``links`` (name -> target), as dpkg-deb writes them."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:xz") as t:
        for name, target in sorted((links or {}).items()):
            info = tarfile.TarInfo("./" + name)
            info.type, info.linkname, info.mtime = tarfile.SYMTYPE, target, 0
            t.addfile(info)
        for name, data in sorted(files.items()):
            info = tarfile.TarInfo("./" + name)
            info.size, info.mtime = len(data), 0
            t.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def write_deb(path: Path, files: dict[str, bytes], links: dict[str, str] | None = None) -> None:
    """A minimal .deb: an ar archive of debian-binary, control.tar.xz and data.tar.xz."""
    members = [("debian-binary", b"2.0\n"), ("control.tar.xz", tar_xz({"control": b"Package: x\n"})),
               ("data.tar.xz", tar_xz(files, links))]
    out = b"!<arch>\n"
    for name, data in members:
        out += f"{name:<16}{0:<12}{0:<6}{0:<6}{100644:<8}{len(data):<10}`\n".encode() + data
        out += b"\n" if len(data) % 2 else b""
    path.write_bytes(out)


def fake_debs(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    kicad = "usr/share/kicad/3dmodels/"
    write_deb(folder / "kicad-packages3d_1.0-1_all.deb", {
        "usr/share/doc/kicad-packages3d/copyright": b"Files: *\nLicense: CC-BY-SA-4.0\n",
        kicad + "FamA.3dshapes/a.wrl": box_wrl(1, 1, 1),
        kicad + "FamA.3dshapes/b.wrl": box_wrl(1, 2, 3),
        kicad + "FamA.3dshapes/c.wrl": box_wrl(1, 2, 3, shift=5, scale=2),   # exact duplicate of b
        kicad + "FamA.3dshapes/g.wrl": box_wrl(1, 1, 4),
        kicad + "FamB.3dshapes/d.wrl": box_wrl(1, 2, 3.01),                  # near-twin of b
        kicad + "FamB.3dshapes/e.wrl": box_wrl(1, 8, 0.2),
        kicad + "FamB.3dshapes/e.step": b"not a mesh",
        kicad + "FamC.3dshapes/f.wrl": box_wrl(3, 1, 1.5),
        kicad + "FamC.3dshapes/broken.wrl": b"#VRML V2.0 utf8\nShape { geometry USE X }",
    })
    pk3 = io.BytesIO()
    with zipfile.ZipFile(pk3, "w") as z:
        for k in range(3):
            z.writestr(f"models/weapons/w{k}/w{k}.md2", wedge_md2(k))
        z.writestr("models/weapons/w9/copy.md2", wedge_md2(0))               # exact duplicate of w0
        z.writestr("models/objects/vegi/box/box.obj", b"v 0 0 0\nv 1 0 0\nv 0 1 0\nv 0 0 1\n"
                   b"f 1 3 2\nf 1 2 4\nf 1 4 3\nf 2 3 4\n")
    write_deb(folder / "ufoai-data_2.5-2_all.deb", {
        "usr/share/doc/ufoai-data/copyright": b"License: GPL-2+\n",
        "usr/share/games/ufoai/base/0models.pk3": pk3.getvalue(),
    })


def assert_no_group_straddles(out: Path) -> None:
    """No near-duplicate group of the corpus built in ``out`` has objects both in pretrain/ and in an evaluation
    folder (read from the folders on disk, checked against the manifest's splits too)."""
    manifest = json.loads((out / "manifest.json").read_text())
    assert rc.straddling_groups(out) == {}
    pretrain = {o["group"] for o in manifest["objects"] if o["split"] == "pretrain"}
    evaluated = {o["group"] for o in manifest["objects"] if o["split"].startswith("eval-")}
    assert pretrain and evaluated and not pretrain & evaluated
    on_disk = {p.stem for p in (out / "pretrain").glob("*/*.npy")}
    assert on_disk == {o["id"] for o in manifest["objects"] if o["split"] == "pretrain"}


def build(out: Path, debs: Path) -> dict:
    return rc.build(out, debs, ["kicad-packages3d", "ufoai-data"], points=256, workers=1, kicad_min_groups=1,
                    kicad_max_outside_twins=0.4, min_eval_per_label=1)


def test_builder_end_to_end_is_reproducible(tmp_path: Path) -> None:
    fake_debs(tmp_path / "debs")
    m1 = build(tmp_path / "out1", tmp_path / "debs")
    m2 = build(tmp_path / "out2", tmp_path / "debs")
    again = build(tmp_path / "out1", tmp_path / "debs")  # resumed: every package's records are reused
    assert m1["object_list_sha256"] == m2["object_list_sha256"] == again["object_list_sha256"]
    assert [o["cloud_sha256"] for o in m1["objects"]] == [o["cloud_sha256"] for o in m2["objects"]]

    pk = m1["packages"]
    assert pk["kicad-packages3d"]["version"] == "1.0-1" and pk["kicad-packages3d"]["licences"] == ["CC-BY-SA-4.0"]
    assert pk["kicad-packages3d"]["mesh_files"] == 8 and pk["kicad-packages3d"]["unreadable"] == 1
    assert pk["kicad-packages3d"]["distinct"] == 6 and pk["ufoai-data"]["distinct"] == 4
    assert "undefined name" in m1["errors"]["kicad-packages3d"][0][1]

    by_file = {o["file"].split("/")[-1]: o for o in m1["objects"]}
    assert "c.wrl" not in by_file and by_file["b.wrl"]["duplicates"] == [
        "kicad-packages3d:usr/share/kicad/3dmodels/FamA.3dshapes/c.wrl"]
    assert by_file["b.wrl"]["group"] == by_file["d.wrl"]["group"] != by_file["a.wrl"]["group"]
    assert by_file["w0.md2"]["duplicates"] == ["ufoai-data:usr/share/games/ufoai/base/0models.pk3!"
                                              "models/weapons/w9/copy.md2"]
    assert by_file["w0.md2"]["label"] == "weapons" and by_file["box.obj"]["label"] == "objects-vegi"

    # held-out KiCad families: outside twins FamA 1/3 (d), FamB 1/2 (b), FamC 0/1 -> FamA and FamC at 0.4;
    # ufoai is left out entirely
    assert m1["rules"]["held_out_kicad_families"] == ["FamA", "FamC"]
    splits = {o["file"].split("/")[-1]: o["split"] for o in m1["objects"]}
    assert splits["a.wrl"] == splits["b.wrl"] == splits["g.wrl"] == splits["f.wrl"] == "eval-kicad"
    assert splits["d.wrl"].startswith("none") and splits["e.wrl"] == "pretrain"  # d: near-twin of eval b
    assert {splits[f] for f in ("w0.md2", "w1.md2", "w2.md2", "box.obj")} == {"eval-ufoai"}
    assert_no_group_straddles(tmp_path / "out1")
    assert_no_group_straddles(tmp_path / "out2")

    out = tmp_path / "out1"
    assert sorted(p.name for p in (out / "eval-ufoai").iterdir()) == ["objects-vegi", "weapons"]
    ds = PointFolder(out / "eval-kicad", split="all", npoints=128, cache_dir=str(tmp_path / "cache"))
    assert len(ds) == 4 and ds.classes == ["FamA", "FamC"]
    cloud = np.load(out / "clouds" / f"{by_file['e.wrl']['id']}.npy")
    assert cloud.shape == (256, 3) and cloud.dtype == np.float32
    assert np.allclose(cloud.mean(0), 0, atol=1e-5) and np.isclose(np.linalg.norm(cloud, axis=1).max(), 1)
    saved = json.loads((out / "manifest.json").read_text())
    assert saved["object_list_sha256"] == m1["object_list_sha256"]
    assert "objects" not in rc.summary(saved) and rc.summary(saved)["counts"] == saved["counts"]


def test_near_duplicate_groups_are_connected_components() -> None:
    occ = np.zeros((5, 100), bool)
    occ[0, :50] = occ[1, :50] = True          # identical
    occ[2, :50] = True
    occ[2, 50:54] = True                       # Jaccard 50/54 = 0.926 with 0 and 1
    occ[3, :45] = True                         # Jaccard 45/50 = 0.9 with 0, 1 (exactly the threshold)
    occ[4, 60:100] = True                      # unrelated
    groups = rc.near_duplicate_groups(occ, threshold=0.9, block=2)
    assert groups.tolist() == [0, 0, 0, 0, 4]
    # 2 and 3 share a group through 0 and 1 but are not twins themselves (Jaccard 45/54): the build keeps the
    # whole group out of pre-training when any member is evaluated (test_chained_near_twins_...)
    assert sorted(map(tuple, rc.near_twin_pairs(occ, 0.9, block=3).tolist())) == [(0, 1), (0, 2), (0, 3), (1, 2),
                                                                                 (1, 3)]
    assert rc.near_duplicate_groups(occ, threshold=0.95).tolist() == [0, 0, 2, 3, 4]


# ------------------------------------------------------------------ near-duplicate chains across the split

CELL = (-5 / 12, -1 / 4, -1 / 12, 1 / 12, 1 / 4, 5 / 12)  # centres of 6 of the 12 occupancy cells per axis
CORNERS = [(x, y, z) for x in (-0.57, 0.57) for y in (-0.57, 0.57) for z in (-0.57, 0.57)]


def pair(i: int, j: int, k: int) -> list[tuple[float, float, float]]:
    """Two small cubes mirrored through the centre (the centroid stays put), in cells (i, j, k) and opposite."""
    p = (CELL[i], CELL[j], CELL[k])
    return [p, (-p[0], -p[1], -p[2])]


def cubes(centres: list[tuple[float, float, float]], h: float = 0.005) -> tuple[list, list]:
    """Vertices and quads of tiny cubes at ``centres``: the 8 corner cubes fix the unit-sphere scaling, so each
    cube fills exactly one cell of the 12^3 occupancy grid and Jaccard is a count of shared cubes."""
    verts, quads = [], []
    for c in centres:
        b = len(verts)
        verts += [(c[0] + x * h, c[1] + y * h, c[2] + z * h) for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)]
        quads += [[b + a for a in q] for q in ((0, 1, 3, 2), (4, 6, 7, 5), (0, 4, 5, 1), (2, 3, 7, 6), (0, 2, 6, 4),
                                                (1, 5, 7, 3))]
    return verts, quads


def cubes_wrl(centres: list) -> bytes:
    verts, quads = cubes(centres)
    point = ", ".join(f"{x} {y} {z}" for x, y, z in verts)
    index = " ".join(" ".join(map(str, q)) + " -1" for q in quads)
    return (f"#VRML V2.0 utf8\nShape {{ geometry IndexedFaceSet {{ coord Coordinate {{ point [ {point} ] }} "
            f"coordIndex [ {index} ] }} }}\n").encode()


def cubes_obj(centres: list) -> bytes:
    verts, quads = cubes(centres)
    return ("".join(f"v {x} {y} {z}\n" for x, y, z in verts) +
            "".join("f " + " ".join(str(a + 1) for a in q) + "\n" for q in quads)).encode()


# B: 8 corners + 8 mirrored pairs (24 cells); A = B + one pair, C = B + another: J(A,B) = J(B,C) = 24/26 = 0.92,
# J(A,C) = 24/28 = 0.86. T: another 24 cells (shares only the corners with B), A2 = T + one pair.
B_CELLS = CORNERS + sum((pair(*c) for c in [(0, 1, 2), (1, 3, 5), (2, 0, 4), (3, 3, 0), (5, 1, 1), (4, 2, 3),
                                            (0, 5, 2), (2, 2, 2)]), [])
T_CELLS = CORNERS + sum((pair(*c) for c in [(1, 1, 1), (3, 1, 2), (0, 0, 3), (4, 4, 1), (5, 2, 5), (1, 4, 0),
                                            (2, 5, 3), (0, 3, 5)]), [])
CHAIN = {"A": B_CELLS + pair(5, 5, 0), "B": B_CELLS, "C": B_CELLS + pair(0, 4, 5), "T": T_CELLS,
         "A2": T_CELLS + pair(4, 0, 4)}


def occupancy_of(data: bytes, name: str) -> np.ndarray:
    occ = rc.process_mesh(name, data, 64)["occupancy"]
    return np.unpackbits(np.frombuffer(bytes.fromhex(occ), np.uint8))[:rc.GRID ** 3].astype(bool)


def chain_debs(folder: Path) -> None:
    """ufoai A ~ kicad FamP/B ~ kicad FamP/C (A and C not twins); ufoai A2 ~ kicad FamH/T with FamH held out."""
    folder.mkdir(parents=True, exist_ok=True)
    kicad = "usr/share/kicad/3dmodels/"
    write_deb(folder / "kicad-packages3d_1.0-1_all.deb", {
        "usr/share/doc/kicad-packages3d/copyright": b"License: CC-BY-SA-4.0\n",
        kicad + "FamP.3dshapes/b.wrl": cubes_wrl(CHAIN["B"]),
        kicad + "FamP.3dshapes/c.wrl": cubes_wrl(CHAIN["C"]),
        kicad + "FamP.3dshapes/d.wrl": box_wrl(1, 8, 0.2),
        kicad + "FamH.3dshapes/t.wrl": cubes_wrl(CHAIN["T"]),
        kicad + "FamH.3dshapes/e1.wrl": box_wrl(1, 1, 1),
        kicad + "FamH.3dshapes/e2.wrl": box_wrl(1, 1, 1.3),
        kicad + "FamH.3dshapes/e3.wrl": box_wrl(1, 1, 1.5),
    })
    pk3 = io.BytesIO()
    with zipfile.ZipFile(pk3, "w") as z:
        z.writestr("models/weapons/a/a.obj", cubes_obj(CHAIN["A"]))
        z.writestr("models/aircraft/a2/a2.obj", cubes_obj(CHAIN["A2"]))
    write_deb(folder / "ufoai-data_2.5-2_all.deb", {"usr/share/doc/ufoai-data/copyright": b"License: GPL-2+\n",
                                                    "usr/share/games/ufoai/base/0models.pk3": pk3.getvalue()})


def test_chained_near_twins_of_an_evaluation_object_stay_out_of_pretrain(tmp_path: Path) -> None:
    occ = {k: occupancy_of(cubes_obj(v), f"{k}.obj") for k, v in CHAIN.items()}

    def jaccard(a: str, b: str) -> float:
        return (occ[a] & occ[b]).sum() / (occ[a] | occ[b]).sum()

    assert jaccard("A", "B") >= rc.JACCARD and jaccard("B", "C") >= rc.JACCARD > jaccard("A", "C")
    assert jaccard("T", "A2") >= rc.JACCARD > max(jaccard("A", "T"), jaccard("B", "T"), jaccard("C", "A2"))

    chain_debs(tmp_path / "debs")
    kw = dict(points=256, workers=1, kicad_min_groups=1, kicad_max_outside_twins=0.3, min_eval_per_label=1)
    m = rc.build(tmp_path / "out", tmp_path / "debs", ["kicad-packages3d", "ufoai-data"], **kw)
    by = {o["file"].rsplit("/", 1)[-1].split(".")[0]: o for o in m["objects"]}
    assert by["a"]["group"] == by["b"]["group"] == by["c"]["group"] != by["t"]["group"] == by["a2"]["group"]
    # FamH's only outside twin is A2 (1 <= 0.3 x 4); FamP's is A (1 > 0.3 x 3)
    assert m["rules"]["held_out_kicad_families"] == ["FamH"]
    split = {k: o["split"] for k, o in by.items()}
    assert split["a"] == split["a2"] == "eval-ufoai" and split["d"] == "pretrain"
    # B is a direct near-twin of A; C is only chained to it through B, and is kept out all the same
    assert split["b"] == split["c"] == "none (near-duplicate group of an evaluation object)"
    # a group with objects of both evaluation sets (A2 in ufoai, T in the held-out family) keeps one object in
    # each (the sets are probed separately, neither is trained on) and gives nothing to pretrain/
    assert split["t"] == split["e1"] == split["e2"] == split["e3"] == "eval-kicad"
    assert sorted(p.name for p in (tmp_path / "out" / "pretrain").glob("*/*.npy")) == [f"{by['d']['id']}.npy"]
    assert_no_group_straddles(tmp_path / "out")
    again = rc.build(tmp_path / "out2", tmp_path / "debs", ["kicad-packages3d", "ufoai-data"], **kw)
    assert again["object_list_sha256"] == m["object_list_sha256"]


def test_straddling_groups_finds_a_group_on_both_sides(tmp_path: Path) -> None:
    fake_debs(tmp_path / "debs")
    out = tmp_path / "out"
    m = build(out, tmp_path / "debs")
    b = next(o for o in m["objects"] if o["file"].endswith("/b.wrl"))   # eval-kicad, near-twin d is not in pretrain
    d = next(o for o in m["objects"] if o["file"].endswith("/d.wrl"))
    rc._link(out / "clouds" / f"{d['id']}.npy", out / "pretrain" / "kicad.FamB" / f"{d['id']}.npy")
    assert rc.straddling_groups(out) == {"eval-kicad": [b["group"]]}


def test_content_id_ignores_position_scale_and_order() -> None:
    v = np.array([[0, 0, 0], [1, 0, 0], [0, 2, 0], [0, 0, 3]], float)
    f = np.array([[0, 1, 2], [0, 1, 3], [1, 2, 3]])
    same, _ = rc.content_id(v * 4 + 7, f[::-1])
    other, _ = rc.content_id(v * [1, 1, 1.1], f)
    assert rc.content_id(v, f)[0] == same != other


def test_clear_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(rc.CorpusError, match="no .deb for ufoai-data.*--download"):
        rc.find_debs(tmp_path, ["ufoai-data"])
    monkeypatch.setattr(rc.shutil, "which", lambda name: None)
    with pytest.raises(rc.CorpusError, match="needs apt-get, which is not on this system.*ufoai-data.*--debs DIR"):
        rc.download(["ufoai-data"], tmp_path)
    monkeypatch.setattr(rc.shutil, "disk_usage", lambda p: type("U", (), {"free": 2 ** 20})())
    with pytest.raises(rc.CorpusError, match="only 0.0 GiB free.*free some space there or pass --out"):
        rc._check_space(tmp_path, 2.0, "the downloads")
    with pytest.raises(rc.CorpusError, match="unknown package.*blender"):
        rc.build(tmp_path, tmp_path, ["blender"])


# ------------------------------------------------------------------ licences of a package without a copyright file


CGAL_DEV_COPYRIGHT = b"""Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: CGAL

Files: *
Copyright: 1995-2022 The CGAL Project
License: GPL-3+
 This program is free software ...

Files: include/CGAL/CORE/*
Copyright: 1995-2004 Exact Computation Project
License: LGPL-3+
 This library is free software ...

Files: examples/*
License: CC0-1.0
"""


def cgal_debs(folder: Path, with_dev: bool = True) -> None:
    """libcgal-demo as Debian ships it: its doc folder is a symlink to libcgal-dev's, which holds the copyright
    file (DEP-5 shape); the meshes are OFF files."""
    folder.mkdir(parents=True, exist_ok=True)
    tet = b"OFF\n4 4 0\n0 0 0\n1 0 0\n0 1 0\n0 0 1\n3 0 2 1\n3 0 1 3\n3 0 3 2\n3 1 2 3\n"
    write_deb(folder / "libcgal-demo_5.5.1-2_all.deb",
              {"usr/share/doc/libcgal-dev/demo/data/tet.off": tet}, links={"usr/share/doc/libcgal-demo": "libcgal-dev"})
    if with_dev:
        write_deb(folder / "libcgal-dev_5.5.1-2_amd64.deb", {
            "usr/share/doc/libcgal-dev/copyright": CGAL_DEV_COPYRIGHT,
            "usr/share/doc/libcgal-dev/changelog.Debian.gz": b"x"})


def test_licences_come_from_the_package_whose_doc_folder_a_package_links_to(tmp_path: Path) -> None:
    cgal_debs(tmp_path / "debs", with_dev=False)
    demo = tmp_path / "debs" / "libcgal-demo_5.5.1-2_all.deb"
    assert rc.doc_link(demo, "libcgal-demo") == "libcgal-dev" and rc.copyright_of(demo, "libcgal-demo") == ""
    assert rc.licence_lines(CGAL_DEV_COPYRIGHT.decode()) == ["CC0-1.0", "GPL-3+", "LGPL-3+"]

    # without libcgal-dev's .deb: the manifest says where the licences are and what to do
    m = rc.build(tmp_path / "out", tmp_path / "debs", ["libcgal-demo"], points=64, workers=1)
    pk = m["packages"]["libcgal-demo"]
    assert pk["licences"] == [] and pk["distinct"] == 1
    assert "links to libcgal-dev's" in pk["copyright_file_found"] and "put libcgal-dev's .deb" in pk[
        "copyright_file_found"]

    # with it (here or after --download): its licences; the finished package is not read again
    cgal_debs(tmp_path / "debs")
    m2 = rc.build(tmp_path / "out", tmp_path / "debs", ["libcgal-demo"], points=64, workers=1)
    pk = m2["packages"]["libcgal-demo"]
    assert pk["licences"] == ["CC0-1.0", "GPL-3+", "LGPL-3+"]
    assert pk["copyright_file_found"].endswith("licences from libcgal-dev's copyright file "
                                               "(libcgal-dev_5.5.1-2_amd64.deb)")
    assert m2["object_list_sha256"] == m["object_list_sha256"]
    rec = json.loads(next((tmp_path / "out" / "records").glob("libcgal-demo_*.json")).read_text())
    assert rec["licences_from"] == "libcgal-dev" and rec["licences"] == pk["licences"]


def test_packages_with_their_own_copyright_file_are_not_looked_at_again(tmp_path: Path) -> None:
    write_deb(tmp_path / "x.deb", {"usr/share/doc/torcs-data/copyright": b"License: GPL-2+\n"})
    assert rc.doc_link(tmp_path / "x.deb", "torcs-data") is None
    record = {"package": "torcs-data"}
    assert rc.linked_licences(record, tmp_path / "x.deb", tmp_path, fetch=False) is False and record == {
        "package": "torcs-data"}


# ------------------------------------------------------------------ `i2pmae data real-corpus` and the script


def test_cli_builds_the_corpus_from_debs_and_the_script_is_the_same_command(tmp_path: Path, capsys) -> None:
    from i2pmae.cli.main import main

    fake_debs(tmp_path / "debs")
    out = tmp_path / "corpus"
    assert main(["data", "real-corpus", "--debs", str(tmp_path / "debs"), "--out", str(out), "--packages",
                 "kicad-packages3d", "ufoai-data", "--points", "128", "--workers", "1",
                 "--summary", str(tmp_path / "summary.json")]) == 0
    printed = capsys.readouterr().out
    manifest = json.loads((out / "manifest.json").read_text())
    assert f"{manifest['counts']['objects']} objects" in printed and manifest["object_list_sha256"][:16] in printed
    assert manifest["points_per_object"] == 128 and json.loads((tmp_path / "summary.json").read_text())["counts"] \
        == manifest["counts"]
    assert (out / "pretrain").is_dir()
    # the script and `python -m i2pmae.data.realcorpus` run the same command (resumed: records are reused)
    assert rc.main(["--debs", str(tmp_path / "debs"), "--out", str(out), "--packages", "kicad-packages3d",
                    "ufoai-data", "--points", "128", "--workers", "1"]) == 0
    assert json.loads((out / "manifest.json").read_text())["object_list_sha256"] == manifest["object_list_sha256"]


def test_cli_default_out_is_the_folder_the_config_reads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from i2pmae.cli.main import main
    from i2pmae.data.locations import resolve_data_path
    from i2pmae.engine.config import load_config

    monkeypatch.setenv("I2PMAE_CACHE", str(tmp_path / "cache"))
    seen = {}

    def build(out: Path, debs: Path, *args, **kwargs) -> dict:
        seen.update(out=out, debs=debs)
        raise rc.CorpusError("stop here")

    monkeypatch.setattr(rc, "build", build)
    assert main(["data", "real-corpus"]) == 1
    assert seen["out"] == tmp_path / "cache" / "real-corpus" and seen["debs"] == seen["out"] / "debs"
    cfg = load_config("pretrain/real-corpus")
    assert resolve_data_path(cfg["data"]["dataset"]["root"]) == seen["out"] / "pretrain"


@pytest.mark.parametrize("argv, message", [
    ([], "no .deb for ufoai-data in .*; run with --download"),
    (["--download"], "--download needs apt-get, which is not on this system.*--debs DIR"),
    (["--download", "APT_FAILS"], "apt-get download failed \\(E: Unable to locate package ufoai-data\\); run "
                                  "'apt-get update'"),
    (["--download", "DISK_FULL"], "only 0.0 GiB free at .*free some space there or pass --debs"),
    (["--packages", "blender"], "unknown package\\(s\\) blender; the corpus uses kicad-packages3d"),
    (["--points", "0"], "--points must be >= 1"),
])
def test_cli_errors_say_what_to_do(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys, argv, message) -> None:
    """One `i2pmae data real-corpus: error: ...` line, exit code 1; nothing is downloaded (apt-get is faked)."""
    import subprocess

    from i2pmae.cli.main import main

    calls = []
    monkeypatch.setattr(rc.shutil, "which", lambda name: "/usr/bin/apt-get" if {"APT_FAILS", "DISK_FULL"} & set(
        argv) else None)
    monkeypatch.setattr(rc.subprocess, "run", lambda cmd, **kw: calls.append(cmd) or subprocess.CompletedProcess(
        cmd, 100, "", "Reading package lists...\nE: Unable to locate package ufoai-data\n"))
    if "DISK_FULL" in argv:
        monkeypatch.setattr(rc.shutil, "disk_usage", lambda p: type("U", (), {"free": 2 ** 20})())
    args = [a for a in argv if a not in ("APT_FAILS", "DISK_FULL")]
    if "--packages" not in args:
        args += ["--packages", "ufoai-data"]
    code = main(["data", "real-corpus", "--out", str(tmp_path / "o"), "--debs", str(tmp_path / "debs"), *args])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and len(err) == 1 and err[0].startswith("i2pmae data real-corpus: error: "), err
    assert re.search(message, err[0]), err[0]
    assert calls == ([["apt-get", "download", "ufoai-data"]] if "APT_FAILS" in argv else [])
    assert not list(tmp_path.glob("debs/*.deb"))
