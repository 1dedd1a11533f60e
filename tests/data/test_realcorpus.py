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
    eval_groups = {o["group"] for o in m1["objects"] if o["split"].startswith("eval")}
    assert not any(o["group"] in eval_groups for o in m1["objects"] if o["split"] == "pretrain")

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
    # 2 and 3 share a group through 0 and 1 but are not twins themselves (Jaccard 45/54): pre-training
    # drops only direct twins of evaluation objects
    assert sorted(map(tuple, rc.near_twin_pairs(occ, 0.9, block=3).tolist())) == [(0, 1), (0, 2), (0, 3), (1, 2),
                                                                                 (1, 3)]
    assert rc.near_duplicate_groups(occ, threshold=0.95).tolist() == [0, 0, 2, 3, 4]


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
