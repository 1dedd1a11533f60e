"""Expected folder layouts, printed when a dataset root is missing or incomplete."""

from __future__ import annotations

from pathlib import Path

LAYOUTS: dict[str, str] = {
    "shapenet55": """\
<root>/ShapeNet55-34/                 (root may also be ShapeNet55-34 itself)
    shapenet_pc/<synset>-<modelid>.npy       float (8192, 3) per shape
    ShapeNet-55/train.txt                     one .npy file name per line
    ShapeNet-55/test.txt""",
    "modelnet40": """\
<root>/ModelNet/modelnet40_normal_resampled/   (root may also be that folder itself)
    modelnet40_shape_names.txt                40 class names, line index = label
    modelnet40_train.txt, modelnet40_test.txt ids such as airplane_0001
    modelnet40_train_8192pts_fps.dat          pickled [points list (8192,6), labels list (1,)]
    modelnet40_test_8192pts_fps.dat           (when absent, built once from the text files:)
    <class>/<id>.txt                          comma-separated x,y,z,nx,ny,nz rows""",
    "modelnet40_h5": """\
<root>/modelnet40_ply_hdf5_2048/          (root may also be that folder itself)
    ply_data_train0.h5 ... ply_data_train4.h5  keys data (n,2048,3) float32, label (n,1)
    ply_data_test0.h5, ply_data_test1.h5
    shape_names.txt                           optional: class names, line index = label""",
    "modelnet40_fewshot": """\
<root>/ModelNetFewshot/                   (root may also be that folder itself)
    5way_10shot/0.pkl ... 9.pkl               pickled {'train': [(points (8192,6), label, orig_label)...],
    5way_20shot/ 10way_10shot/ 10way_20shot/   'test': [...]}""",
    "scanobjectnn": """\
<root>/ScanObjectNN/                      (root may also be ScanObjectNN or the split folder itself)
    main_split/training_objectdataset.h5                     OBJ-BG (variant obj_bg)
    main_split/test_objectdataset.h5
    main_split_nobg/training_objectdataset.h5                OBJ-ONLY (variant obj_only)
    main_split_nobg/test_objectdataset.h5
    main_split/training_objectdataset_augmentedrot_scale75.h5  PB-T50-RS (variant pb_t50_rs)
    main_split/test_objectdataset_augmentedrot_scale75.h5
  keys data (n,2048,3) float32, label (n,)""",
    "shapenetpart": """\
<root>/shapenetcore_partanno_segmentation_benchmark_v0_normal/   (or that folder itself)
    synsetoffset2category.txt                 lines 'Airplane 02691156' (line order = category id)
    <synset>/<modelid>.txt                    rows 'x y z nx ny nz part_label'
    train_test_split/shuffled_train_file_list.json   ["shape_data/<synset>/<modelid>", ...]
    train_test_split/shuffled_val_file_list.json
    train_test_split/shuffled_test_file_list.json""",
    "folder": """\
<root>/                                   your own shapes, any of:
    <class>/<file>                            one sub-folder per class (labels = sorted names), or
    <file>                                    unlabelled files directly in root, or
    train/<class>/<file>, test/<class>/<file> fixed splits
  files: .ply .obj .off .stl .glb meshes (surface-sampled) or .npy .npz (key points|xyz|first)
         .txt .xyz .pts clouds (whitespace or comma separated, first 3 columns = x y z)""",
    "procedural": """\
(no files)                                made on the fly: `size` procedural shapes per epoch, new every
                                          epoch for split train, one fixed draw per other split
  options: npoints, size, test_size (evaluation splits; default size), seed, classes (names, a count,
           or all 15 when omitted), unseen (true: the 13 families pre-training never sees); no root""",
}


def missing_root_error(fmt: str, root: str | Path, missing: str | Path | None = None) -> FileNotFoundError:
    """A FileNotFoundError that shows what was looked for and the expected folder tree of ``fmt``."""
    what = f"{missing} not found (root: {root})" if missing else f"the root folder {root} does not exist"
    hint = "\nFor a small built-in substitute run: i2pmae data synth --out <root>" \
        if fmt in ("shapenet55", "modelnet40_h5") else ""
    return FileNotFoundError(f"{fmt} data: {what}.\nExpected layout:\n{LAYOUTS[fmt]}{hint}")
