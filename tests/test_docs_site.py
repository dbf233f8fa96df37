"""The offline docs site (docs/build.py): a tiny project of notebooks built end to end into a temp folder.

One notebook holds what the real pages hold (a `#| hide` cell, an exported function with a docstring, a plotly figure,
an ipywidget, a `#| slow` cell, math); three more are markdown-only and only place pages in sidebar sections."""
import json
import importlib.util, re, struct, sys, zlib
from pathlib import Path

import nbformat
import pytest

REPO = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("docs_build", REPO / "docs" / "build.py")
build = sys.modules["docs_build"] = importlib.util.module_from_spec(_spec); _spec.loader.exec_module(build)

md, code = nbformat.v4.new_markdown_cell, nbformat.v4.new_code_cell


def _nb(path: Path, cells) -> None:
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata = {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}}
    nbformat.write(nb, path)


def _png(path: Path) -> None:
    "A valid 1x1 PNG (no plotting library needed)."
    def chunk(t, d): return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00")) + chunk(b"IEND", b""))


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("docsproj")
    nbs = root / "nbs"; nbs.mkdir(); (root / "figures").mkdir()
    _png(root / "figures" / "tiny_dashboard.png")
    _nb(nbs / "index.ipynb", [md("# Tiny site\n\n> The home page.\n\n![A dashboard](../figures/tiny_dashboard.png)")])
    _nb(nbs / "01_data.demo.ipynb", [
        md("# Demo module\n\n> A tiny module.\n\nSome maths: $a^2 + b^2 = c^2$."),
        code("#| default_exp demo"),
        code("#| hide\nfrom nbdev.showdoc import *\nprint('HIDDEN_CELL_MARKER')"),
        code('#| export\ndef greet(name: str, excited: bool = False) -> str:\n'
             '    "Say hello to `name`, the DOCSTRING_MARKER way."\n'
             "    return f'hello {name}' + ('!' if excited else '')"),
        code("assert greet('ecg') == 'hello ecg'\nprint('VISIBLE_OUTPUT' + '_MARKER')"),
        code("import plotly.graph_objects as go\n"
             "go.Figure(go.Scatter(x=[1, 2, 3], y=[4, 1, 7], name='PLOTLY_TRACE_MARKER'))"),
        code("import ipywidgets as W\nW.IntSlider(value=3, description='WIDGET_MARKER')"),
        code("#| slow\nprint('SLOW_CELL' + '_RAN')"),
    ])
    _nb(nbs / "20_encode.notes.ipynb", [md("# Encode notes\n\nMarkdown only.")])
    _nb(nbs / "85_demo_results.ipynb", [md("# Demo results\n\nA results page.")])
    return root


@pytest.fixture(scope="module")
def site(project):
    s = build.build_site(out=project / "_site", build=project / "_docs_build", nbs_dir=project / "nbs", flags="",
                         jobs=2, timeout=120, quiet=True, log=lambda *a: None)
    return s


def _pages(site) -> dict[str, str]:
    return {p.name: p.read_text(encoding="utf-8") for p in Path(site.out).glob("*.html")}


def test_pages_and_search(site):
    pages = _pages(site)
    for name in ["index.html", "01_data.demo.html", "20_encode.notes.html", "85_demo_results.html", "search.html"]:
        assert name in pages, f"{name} missing from {sorted(pages)}"
    idx = (Path(site.out) / "searchindex.js").read_text()
    assert "greet" in idx and "demo" in idx.lower()


def test_sidebar_sections_in_module_map_order(site):
    home = _pages(site)["index.html"]
    captions = re.findall(r'<span class="caption-text">([^<]+)</span>', home)
    assert captions == ["Data", "Encode", "Results"], captions
    links = re.findall(r'class="reference internal" href="([^"#]+\.html)"', home.split('caption-text">Data')[1])
    assert [l for l in links if l != "index.html"][:3] == ["01_data.demo.html", "20_encode.notes.html",
                                                          "85_demo_results.html"]


def test_nbdev_processing(site):
    page = _pages(site)["01_data.demo.html"]
    assert "HIDDEN_CELL_MARKER" not in page and "nbdev.showdoc" not in page      # `#| hide` cell dropped
    assert "#|" not in page and "default_exp" not in page                       # directives never shown
    assert "return f" not in page                                               # exported source hidden (nbdev)
    assert "VISIBLE_OUTPUT_MARKER" in page                                      # executed during the build
    assert re.search(r"<h[2-4]>greet<", page) and "DOCSTRING_MARKER" in page    # show_doc API entry, a section
    assert "excited" in page                                                    # its signature
    assert "SLOW_CELL_RAN" not in page and "Not executed in this build" in page # `#| slow` skipped, said so


def test_plotly_local_and_widgets_stripped(site):
    pages = _pages(site)
    page = pages["01_data.demo.html"]
    assert 'class="plotly-graph-div' in page and '"y":[4,1,7]' in page               # the figure's own data
    assert re.search(r'<script src="_static/plotly\.min\.js', page)
    js = Path(site.out) / "_static" / "plotly.min.js"
    assert js.stat().st_size > 1_000_000
    assert "plotly.min.js" not in pages["index.html"]                          # only pages with a figure load it
    assert "IntSlider(value=3" not in page and "Interactive widget output" in page  # widget repr dropped, said so
    for name, html in pages.items():
        assert "widget-state" not in html and "widget-view" not in html, name


def test_offline_and_figures(site):
    for name, html in _pages(site).items():
        ext = re.findall(r'<(?:script|link|img)\b[^>]*\b(?:src|href)\s*=\s*["\']?(?:https?:)?//[^>]*>', html)
        assert not ext, (name, ext[:3])
        assert not re.search(r"<script[^>]*mathjax", html, re.I), name
    page = _pages(site)["01_data.demo.html"]
    assert "math-svg" in page                                                   # $...$ drawn at build time
    home = _pages(site)["index.html"]
    src = re.search(r'<img[^>]*alt="A dashboard"[^>]*>', home).group(0)
    img = re.search(r'src="([^"]+)"', src).group(1)
    assert (Path(site.out) / img).is_file(), img
    assert (Path(site.out) / "figures" / "tiny_dashboard.png").is_file()


def test_second_build_uses_cache(project, site):
    s2 = build.build_site(out=project / "_site", build=project / "_docs_build", nbs_dir=project / "nbs", flags="",
                          jobs=2, timeout=120, quiet=True, log=lambda *a: None)
    assert all(r["cached"] for r in s2.executed), s2.executed


def test_failing_notebook_is_named(tmp_path):
    nbs = tmp_path / "nbs"; nbs.mkdir()
    _nb(nbs / "03_broken.ipynb", [md("# Broken"), code("x = 1"), code("y = 1 / 0")])
    with pytest.raises(build.DocsBuildError) as e:
        build.execute(nbs / "03_broken.ipynb", set(), tmp_path / "cache", timeout=60, nbs_dir=nbs)
    msg = str(e.value)
    assert "03_broken.ipynb" in msg and "cell 2" in msg and "ZeroDivisionError" in msg


def test_sections():
    assert build.section_of("00_core") == "Core"
    assert build.section_of("16_dataset") == "Data" and build.section_of("11_preprocess.text") == "Preprocess"
    assert build.section_of("72_dashboards.embeddings") == "Runs & dashboards"
    assert build.section_of("81_dashboards.results") == "Results" and build.section_of("85_ptbxl_results") == "Results"
    assert build.section_of("90_bench") == "Benchmarks" and build.section_of("95_cli") == "Runner/CLI"
    assert build.section_of("38_distributed") == "Training" and build.section_of("34_models.factory") == "Models"
    assert build.skip_flags("slow") == {"bench"} and build.skip_flags("") == {"slow", "bench"}


def test_every_notebook_survives_nbdev_docs_processing():
    """nbdev_docs (the Quarto path) re-runs only exported/import/show_doc cells (`exec_show_docs`); a cell it runs must
    not need a variable of a cell it skips (01_data.records used to stop there with NameError: tmp, and eight other
    notebooks likewise). Every notebook goes through nbdev's own docs processors, in one process (~3 min)."""
    import subprocess
    code = ("import glob, json, warnings; warnings.simplefilter('ignore')\n"
            "from execnb.nbio import read_nb\nfrom nbdev.processors import FilterDefaults\nbad = []\n"
            "for nb in sorted(glob.glob('*.ipynb')):\n"
            "    try: FilterDefaults()(read_nb(nb))\n"
            "    except Exception as e: bad.append(f'{nb}: {e!r} (from {e.__cause__!r})')\n"
            "print('@@' + json.dumps(bad))\n")
    r = subprocess.run([sys.executable, "-c", code], cwd=REPO / "nbs", capture_output=True, text=True, timeout=1200)
    assert r.returncode == 0, r.stderr[-2000:]
    bad = json.loads(r.stdout.rsplit("@@", 1)[1])
    assert not bad, "\n".join(bad)
