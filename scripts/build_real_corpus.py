"""Build the real-mesh corpus from Debian packages (issue 23); see i2pmae/data/realcorpus.py.

    python scripts/build_real_corpus.py --download            # apt-get download (root), then build
    python scripts/build_real_corpus.py --debs DIR --out OUT  # from already-downloaded .deb files
"""

from i2pmae.data.realcorpus import main

if __name__ == "__main__":
    raise SystemExit(main())
