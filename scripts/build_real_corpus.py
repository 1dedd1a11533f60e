"""Build the real-mesh corpus from Debian packages (issue 23); the same as ``i2pmae data real-corpus``
(see i2pmae/data/realcorpus.py and docs/data.md §9).

    python scripts/build_real_corpus.py --download            # apt-get download (~1.5 GB), then build
    python scripts/build_real_corpus.py --debs DIR --out OUT  # from already-downloaded .deb files
"""

from i2pmae.data.realcorpus import main

if __name__ == "__main__":
    raise SystemExit(main())
